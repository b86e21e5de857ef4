"""Studies: what runs many simulations and reports on them together, above ``simulate``.

    sweep          an N × T grid of runs (``neurosim sweep``)
    paper          the numbers the paper prints and the reproduction of its Tables 3/4
    paper_report   reports/paper_tables.md (``neurosim paper-tables``)
    regenerate     every checked-in report in reports/ (``python -m neurosim.studies.regenerate``)
"""
