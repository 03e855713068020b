"""Tax reports (rittenregistratie) per driver or per car per calendar year, in CSV, XLSX, PDF
and XML. The model (model.py) is assembled through the door (build.py) and rendered by one
module per format; export.py ties building, rendering and the audit record together."""
