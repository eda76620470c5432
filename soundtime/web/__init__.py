"""Serving the browser UI: the built panel from ``soundtime/web/dist`` when present, else a start page."""
