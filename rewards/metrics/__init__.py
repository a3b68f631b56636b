"""The program's figures for a period: one source for the dashboard, ``loyalty metrics``,
``GET /api/v1/metrics`` and the staff chat's ``/stats``.

``definitions.py`` holds the one sentence that says how each figure is computed (the
dashboard's footnotes and docs/metrics.md use the same words; a test compares them);
``periods.py`` turns dates in the program's time zone into instants and buckets;
``figures.py`` computes them (``compute``); ``accounting.py`` the points accounting per day
(the CSV an accountant asks for); ``cohorts.py`` the monthly cohort table.
May import the tables and the promotions' campaign counts; never commits.
"""
