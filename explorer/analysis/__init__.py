"""Analysis: a run's inputs built once (``inputs``), its stage features (``features``), the
separability table over runs x stages x metrics (``table``, scored by ``scoring``), its cache
(``cache``), the 2-D views (``projection``, ``views``), the test-split evaluation
(``evaluation``), and the tidy tables the pages draw (``run_tables``, ``gradients``)."""
