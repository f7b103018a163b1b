"""docs/RESULTS.md regenerated from the runs and the cached results: the main experiment
(``main``), the mechanism studies (``mechanisms``), the landscape, shattering and verdict sections
(``verdict``), and their Markdown tables (``markdown``)."""
