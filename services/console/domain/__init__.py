"""The console's pure domain: accounts and sessions (`accounts`), the queue's filters (`queue`), the movement's
report and its files (`reports`, `report_files`), the files of bulk imports (`unit_imports`). No infrastructure
(import-linter).
"""
