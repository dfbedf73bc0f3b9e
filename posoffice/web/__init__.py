"""The back office's web pages (`posoffice serve` serves them beside the collector's API): `app` (routes and
handlers), `security` (headers, cookies, CSRF), `forms` (what a person types, checked), `evidence` (a purchase's
bundle and proof), `chart` (server-rendered SVG), `texts` (English and Chinese), `templates/` (Jinja2) and
`static/` (one stylesheet, one small script: the Today page's live updates)."""
