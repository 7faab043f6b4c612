"""The README's MongoDB queries, run on a finished campaign (embedded store or MongoDB)."""

from __future__ import annotations

from crystaloop.launchpad.config import get_launchpad
from crystaloop.launchpad.submit import firework_states
from crystaloop.stores.factory import open_store
from crystaloop.stores.labels import LabelStore


def _readme_block(language: str, after: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index(after) :]
    start = section.index(f"```{language}\n") + len(language) + 4
    return section[start : section.index("```", start)]


def check_readme_pymongo(finished, campaign: str, monkeypatch) -> None:
    """Run the README's pymongo block on the campaign's stores and check what it finds."""
    labels = LabelStore(open_store(finished, "labels"))
    candidate = labels.query({"campaign": campaign, "kind": "candidate"})[0]
    code = _readme_block("python", "### Querying results in MongoDB")
    code = code.replace('"Ba-O-Ti"', repr(candidate["chemsys"]))
    monkeypatch.setenv("CRYSTALOOP_HOME", str(finished.home))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert scope["campaign"] == campaign
    stable = labels.query({"campaign": campaign, "kind": "candidate", "e_hull": {"$lte": 0.1}})
    # the tiny campaign's candidates are each the only labelled phase of their system: on the
    # hull (E_hull 0), so the README's queries have something to find
    assert stable, "no candidate with E_hull <= 0.1: the README's stable query found nothing"
    assert {d["subject_id"] for d in scope["stable"]} == {d["subject_id"] for d in stable}
    assert [d["e_hull"] for d in scope["stable"]] == sorted(d["e_hull"] for d in stable)
    near = labels.query(
        {"kind": "candidate", "chemsys": candidate["chemsys"], "e_hull": {"$lte": 0.05}}
    )
    assert near, f"no {candidate['chemsys']} candidate with E_hull <= 0.05"
    assert sorted(d["subject_id"] for d in scope["near"]) == sorted(d["subject_id"] for d in near)
    oracle_fws = get_launchpad(finished).get_fw_ids(
        {
            "spec.crystaloop.campaign": campaign,
            "spec.crystaloop.iteration": 0,
            "spec.crystaloop.stage": "oracle",
        }
    )
    assert oracle_fws
    assert sorted(c["fw_id"] for c in scope["calcs"]) == sorted(oracle_fws)
    assert all(c["state"] in ("COMPLETED", "FIZZLED") for c in scope["calcs"])
    # iteration 0 has other Fireworks too: the query's stage filter is what picks these
    assert sum(firework_states(finished, campaign)["0"].values()) > len(oracle_fws)
    lineage = scope["lineage"]
    assert lineage["labelled_by"]["state"] == "COMPLETED"
    assert lineage["labelled_by"]["name"] == "Force field static"
    assert lineage["generated_by"].startswith(("abinitio@", f"{campaign}:generator:"))
    assert lineage["scored_by"].startswith(f"{campaign}:surrogate:")  # the bootstrap model on
    assert lineage["selection"]


def check_readme_shell(finished, campaign: str) -> None:
    """Run the README's mongo-shell queries through pymongo and check what they find."""
    import json
    import re

    from crystaloop.stores.factory import mongo_client

    labels = LabelStore(open_store(finished, "labels"))
    label = labels.query({"campaign": campaign, "kind": "candidate"})[0]
    client = mongo_client(finished)
    databases = {"db": client[finished.database], "fw": client[finished.launchpad_database]}
    code = _readme_block("js", "### Querying results in MongoDB")
    assert 'db.getSiblingDB("crystaloop_fireworks")' in code and "use crystaloop\n" in code
    code = (
        code.replace("CAMPAIGN", campaign)
        .replace("CANDIDATE", label["subject_id"])
        .replace("CALC_ID", label["calc_id"])
        .replace('"Ba-O-Ti"', json.dumps(label["chemsys"]))
    )
    calls = re.findall(r"^(db|fw)\.(\w+)\.(find|findOne)\((.*)\)(?:\.sort\((.*)\))?$", code, re.M)
    assert len(calls) == 6
    decoder = json.JSONDecoder()
    results = []
    for name, collection, method, args, sort in calls:
        query, end = decoder.raw_decode(args)
        projection, _ = decoder.raw_decode(args[end:].lstrip(", "))
        coll = databases[name][collection]
        if method == "findOne":
            results.append(coll.find_one(query, projection))
        else:
            cursor = coll.find(query, projection)
            if sort:
                cursor = cursor.sort(list(json.loads(sort).items()))
            results.append(list(cursor))
    stable, near, calcs, candidate, found, firework = results
    expected = labels.query({"campaign": campaign, "kind": "candidate", "e_hull": {"$lte": 0.1}})
    assert expected, "no candidate with E_hull <= 0.1: the README's stable query found nothing"
    assert sorted(d["subject_id"] for d in stable) == sorted(d["subject_id"] for d in expected)
    assert [d["e_hull"] for d in stable] == sorted(d["e_hull"] for d in expected)
    near_expected = labels.query(
        {"kind": "candidate", "chemsys": label["chemsys"], "e_hull": {"$lte": 0.05}}
    )
    assert near_expected, f"no {label['chemsys']} candidate with E_hull <= 0.05"
    assert sorted(d["subject_id"] for d in near) == sorted(d["subject_id"] for d in near_expected)
    oracle_fws = get_launchpad(finished).get_fw_ids(
        {
            "spec.crystaloop.campaign": campaign,
            "spec.crystaloop.iteration": 0,
            "spec.crystaloop.stage": "oracle",
        }
    )
    assert oracle_fws and sorted(c["fw_id"] for c in calcs) == sorted(oracle_fws)
    assert candidate["generator"] and found["calc_id"] == label["calc_id"]
    assert firework["state"] == "COMPLETED"
