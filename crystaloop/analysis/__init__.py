"""Reading a campaign back: discoveries (S.U.N.), the report with its figures, exports, queries.

Above the LaunchPad layer and below the CLI: it reads the stores and, through
:mod:`crystaloop.launchpad`, the Fireworks' states; it never changes either.
"""
