"""Reports people look at: one campaign's outcome, and the lists' growth over time.

``campaign.py`` and ``growth.py`` gather the figures (every count made by
SQL in ``store/reports.py``) into dataclasses; ``rates.py`` holds the rate
definitions and the reference lines they are read against; ``charts.py``
draws them as SVG with matplotlib; ``page.py`` puts charts and tables into
one self-contained HTML file.
"""
