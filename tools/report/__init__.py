"""`meteolink report`: a period's readings as one self-contained HTML file and a CSV.

One module per job, in the order the command uses them:

    period.py       --from/--to/--tz: the period's UTC bounds and its local days
    reference.py    a reference station's hourly CSV (--reference), read and checked
    statistics.py   one pass over the store's rows: completeness, uptime, daily
                    min/max/mean, nights, hourly PM, hourly means beside the reference
    air_limits.py   the EU limit values and WHO guideline levels, and which law applies
    comparison.py   station against reference: bias, RMSE, r, fitted calibration
    tables.py       the report's tables (words from words.py): what HTML and CSV show
    charts.py       small inline SVG line charts
    html.py         the HTML file: inline CSS and SVG, no external resource
    csv_tables.py   the CSV file: the same tables, one after the other
    words.py        the report's words in English and Latvian

Readings reach the report only as state messages (gateway/messages.py StateRows): the
values calibrated, with derived values and quality-control flags, as they are published.
"""
