"""``crystaloop mcp`` driven by the ``mcp`` client over stdio: every tool, and bad input."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from helpers import cif_of, nacl, perovskite

from crystaloop.cli import main

TOOLS = {
    "search_corpus",
    "predict",
    "generate",
    "design",
    "submit_campaign",
    "campaign_status",
    "stop_campaign",
    "report",
}
READ_ONLY = {"search_corpus", "predict", "campaign_status"}
SUBMITS = {"design", "submit_campaign"}


@pytest.fixture(scope="module")
def agent_home(tmp_path_factory):
    """A home with a small corpus (so the server does not ingest the sample corpus)."""
    root = tmp_path_factory.mktemp("agent")
    home = root / "home"
    data = root / "corpus.csv"
    rows = [perovskite(3.8 + 0.02 * i) for i in range(4)] + [nacl(5.5)]
    data.write_text(
        ",material_id,cif\n" + "".join(f'{i},m{i},"{cif_of(s)}"\n' for i, s in enumerate(rows))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYSTALOOP_")}
    env["CRYSTALOOP_HOME"] = str(home)
    result = CliRunner(env={"CRYSTALOOP_HOME": str(home)}).invoke(
        main, ["corpus", "ingest", str(data), "--source", "test"]
    )
    assert result.exit_code == 0, result.output
    outside = root / "outside"
    outside.mkdir()
    (outside / "s.cif").write_text(cif_of(perovskite()))
    allowed = root / "allowed"
    allowed.mkdir()
    (allowed / "s.cif").write_text(cif_of(perovskite()))
    return {"home": home, "env": env, "outside": outside, "allowed": allowed}


def call_server(agent_home, calls, *extra):
    """Start ``crystaloop mcp`` over stdio, run ``calls(client)`` and return its result."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "crystaloop", "mcp", "--allow", str(agent_home["allowed"]), *extra],
        env=agent_home["env"],
    )

    async def session():
        async with Client(params, read_timeout_seconds=600) as client:
            return await calls(client)

    return anyio.run(session)


def payload(result):
    assert not result.is_error, result.content[0].text
    return result.structured_content or json.loads(result.content[0].text)


def error_text(result):
    assert result.is_error
    return result.content[0].text


def launchpad_workflows(home: Path) -> int:
    from crystaloop.launchpad.config import get_launchpad
    from crystaloop.settings import load_settings

    return get_launchpad(load_settings(home=home)).workflows.count_documents({})


def test_every_tool_is_served_and_answers(agent_home):
    async def calls(client):
        out = {"tools": (await client.list_tools()).tools}
        out["search"] = payload(
            await client.call_tool(
                "search_corpus", {"chemsys": "O-Sr-Ti", "limit": 3, "structure_format": "cif"}
            )
        )
        cif = out["search"]["results"][0]["structure"]
        out["predict"] = payload(await client.call_tool("predict", {"structures": [cif]}))
        out["predict_file"] = payload(
            await client.call_tool("predict", {"path": str(agent_home["allowed"] / "s.cif")})
        )
        out["generate"] = payload(
            await client.call_tool("generate", {"model": "perov5", "n": 4, "steps": 5})
        )
        out["design"] = payload(
            await client.call_tool(
                "design",
                {
                    "formula": "SrTiO3",
                    "max_eform": 0.5,
                    "n": 2,
                    "dft_budget": 2,
                    "per_iteration": 1,
                    "samples": 8,
                    "generator": "perov5",
                },
            )  # fmt: skip
        )
        out["status"] = payload(
            await client.call_tool("campaign_status", {"campaign": out["design"]["campaign"]})
        )
        out["second"] = payload(
            await client.call_tool(
                "design",
                {"formula": "SrTiO3", "max_eform": 0.5, "dft_budget": 2, "generator": "perov5"},
            )
        )
        return out

    out = call_server(agent_home, calls, "--oracle-budget", "4", "--no-run-workers")
    assert {t.name for t in out["tools"]} == TOOLS
    for tool in out["tools"]:
        assert tool.description and tool.input_schema["type"] == "object"
        assert tool.annotations.read_only_hint is (tool.name in READ_ONLY), tool.name
        if tool.name in SUBMITS:
            assert tool.annotations.open_world_hint and "SUBMITS ORACLE WORK" in tool.description
    search = out["search"]
    # the four perovskites differ only in their lattice constant: the corpus kept one
    assert search["count"] == 1 and search["results"][0]["formula"] == "SrTiO3"
    assert search["results"][0]["structure"].startswith("# generated using pymatgen")
    [prediction] = out["predict"]["predictions"]
    assert prediction["e_form"]["std"] > 0 and 0 <= prediction["e_form"]["confidence"] <= 1
    assert out["predict_file"]["predictions"][0]["id"] == "s"
    generated = out["generate"]
    assert generated["generated"] == 4 and "screens" in generated
    lines = Path(generated["file"]).read_text().splitlines()
    assert len(lines) == 4 and Path(generated["file"]).parent == agent_home["home"] / "agent"
    design = out["design"]
    assert design["campaign"].startswith("design-") and design["submitted_fireworks"] >= 1
    assert design["budget"] == {"total": 4, "used": 2, "left": 2} and not design["worker_started"]
    assert out["status"]["state"] == "queued" and out["status"]["fireworks"]
    # a second design a moment later is a campaign of its own
    assert out["second"]["campaign"] != design["campaign"]
    assert out["second"]["budget"]["left"] == 0


def test_bad_input_is_a_tool_error_that_changes_nothing(agent_home):
    big = perovskite().make_supercell([6, 6, 5], in_place=False)  # 900 sites > 500
    before = launchpad_workflows(agent_home["home"])

    async def calls(client):
        async def err(name, args):
            return error_text(await client.call_tool(name, args))

        return {
            "element": await err("search_corpus", {"elements": ["Xx"]}),
            "formula": await err("design", {"formula": "Qq2O3", "max_eform": 1.0}),
            "oversized": await err("predict", {"structures": [json.dumps(big.as_dict())]}),
            "garbage": await err("predict", {"structures": ["not a cif"]}),
            "outside": await err("predict", {"path": str(agent_home["outside"] / "s.cif")}),
            "dotdot": await err(
                "predict", {"path": str(agent_home["allowed"] / ".." / "outside" / "s.cif")}
            ),
            "budget": await err(
                "design",
                {"formula": "SrTiO3", "max_eform": 0.5, "dft_budget": 2, "generator": "perov5"},
            ),
            "schema": await err("generate", {"n": 0}),
            "composition": await err("generate", {"composition": "Sr40Ti40O120"}),
            "stop": await err("stop_campaign", {"campaign": "nope"}),
            "model_outside": await err(
                "predict", {"structures": [cif_of(perovskite())], "model": "/etc"}
            ),
            "model_unknown": await err("generate", {"model": "nope"}),
            "directory": await err("predict", {"path": str(agent_home["allowed"])}),
            "status": await err("campaign_status", {"campaign": "nope"}),
        }

    out = call_server(agent_home, calls, "--oracle-budget", "1", "--no-run-workers")
    assert "unknown element(s): Xx" in out["element"]
    assert "Qq2O3" in out["formula"]
    assert "structure-0" in out["oversized"] and "500" in out["oversized"]
    assert "structure-0" in out["garbage"]
    assert "outside the allowed folders" in out["outside"]
    assert "outside the allowed folders" in out["dotdot"]
    assert "oracle budget exhausted" in out["budget"] and "1 of 1 left" in out["budget"]
    assert "greater than or equal to 1" in out["schema"]
    assert "outside the allowed folders" in out["model_outside"]
    assert "unknown generator 'nope'" in out["model_unknown"] and "perov5" in out["model_unknown"]
    assert "not a file" in out["directory"]
    assert "Sr40Ti40O120" in out["composition"]
    assert "nope" in out["stop"] and "nope" in out["status"]
    assert launchpad_workflows(agent_home["home"]) == before  # nothing was submitted


def test_store_errors_reach_the_agent_without_the_password(tmp_path):
    from mcp.server.mcpserver.exceptions import ToolError

    from crystaloop.agent.guards import OracleBudget, PathPolicy
    from crystaloop.agent.server import guarded
    from crystaloop.agent.tools import ToolContext
    from crystaloop.settings import load_settings

    uri = "mongodb://crystal:s3cret-pw@db.example.org:27017/crystaloop"
    settings = load_settings(home=tmp_path, mongo_uri=uri)
    ctx = ToolContext(settings, PathPolicy.of(tmp_path), OracleBudget(0))

    @guarded(ctx)
    def tool():
        raise ConnectionError(f"cannot open store corpus: {uri} refused (pw s3cret-pw)")

    with pytest.raises(ToolError) as caught:
        tool()
    assert "s3cret-pw" not in str(caught.value) and "cannot open store corpus" in str(caught.value)


@pytest.mark.slow
def test_a_design_runs_through_the_background_worker_and_is_reported(agent_home):
    """The seed's query from an agent: design returns at once, the worker runs it, status
    lists what was found, report writes the page, stop is accepted."""
    import time

    async def calls(client):
        design = payload(
            await client.call_tool(
                "design",
                {
                    "formula": "SrTiO3",
                    "max_eform": 5.0,
                    "n": 2,
                    "iterations": 1,
                    "dft_budget": 1,
                    "per_iteration": 1,
                    "samples": 8,
                    "generator": "perov5",
                },
            )  # fmt: skip
        )
        deadline = time.monotonic() + 900
        while True:
            status = payload(
                await client.call_tool("campaign_status", {"campaign": design["campaign"]})
            )
            if status["state"] in ("finished", "stalled") or time.monotonic() > deadline:
                break
            await anyio.sleep(2)
        report = payload(await client.call_tool("report", {"campaign": design["campaign"]}))
        stop = payload(await client.call_tool("stop_campaign", {"campaign": design["campaign"]}))
        return design, status, report, stop

    design, status, report, stop = call_server(
        agent_home, calls, "--oracle-budget", "1", "--run-workers"
    )
    assert design["worker_started"] and design["budget"]["left"] == 0
    assert status["state"] == "finished", status
    found = status["design"]["found"]
    assert status["design"]["count"] == sum(len(v) for v in found.values()) > 0
    assert Path(report["page"]).exists() and report["iterations"]
    assert stop == {"campaign": design["campaign"], "stop_requested": True}


def test_the_readme_example_calls_tools_with_valid_arguments(tmp_path):
    """The README's worked example names served tools with arguments their schemas accept."""
    import re

    import jsonschema
    from mcp import Client

    from crystaloop.agent.guards import OracleBudget, PathPolicy
    from crystaloop.agent.server import build_server
    from crystaloop.agent.tools import ToolContext
    from crystaloop.settings import load_settings

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### The seed's request, as an agent makes it", 1)[1]
    calls = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    settings = load_settings(home=tmp_path)
    server = build_server(ToolContext(settings, PathPolicy.of(tmp_path), OracleBudget(0)))

    async def schemas():
        async with Client(server) as client:
            return {t.name: t.input_schema for t in (await client.list_tools()).tools}

    served = anyio.run(schemas)
    assert {c["tool"] for c in calls} <= set(served) and "design" in {c["tool"] for c in calls}
    for call in calls:
        jsonschema.validate(call["arguments"], served[call["tool"]])
    design = next(c for c in calls if c["tool"] == "design")["arguments"]
    assert (design["formula"], design["max_eform"], design["n"]) == ("Fe2O3", 1.0, 50)


def test_streamable_http_on_localhost(agent_home):
    import socket
    import subprocess
    import time

    from mcp import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "crystaloop", "mcp", "--transport", "http", "--port", str(port),
         "--no-run-workers"],
        env=agent_home["env"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    async def calls():
        deadline = time.monotonic() + 120
        while True:
            try:
                async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                    tools = (await client.list_tools()).tools
                    found = await client.call_tool("search_corpus", {"formula": "NaCl"})
                    return tools, found
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                await anyio.sleep(1)

    try:
        tools, found = anyio.run(calls)
    finally:
        server.terminate()
        server.wait(30)
    assert {t.name for t in tools} == TOOLS
    assert payload(found)["results"][0]["formula"] == "NaCl"
