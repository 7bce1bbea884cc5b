"""Contacts: the rules for addresses and names, and contact files in and out.

- ``addresses``: normalise, validate and compare addresses; what a name may hold;
- ``columns``: the column names and cell escaping the importer and exporter share;
- ``importer``: a CSV file into a list, streamed and batched;
- ``exporter``: subscribers out as CSV or JSON Lines, and everything held about one person.
"""
