"""The audit, in one room: what the kit claims and how each claim is checked (``make audit`` runs the three commands).

- ``geometry``: every net's layer table, crop offsets derived beside the reference's, Table 1's structure
  columns (``.venv/bin/python -m reproduce.audit``; ``--prototxt FILE`` and ``--reference-repo DIR`` hand over to
  ``prototxt``).
- ``prototxt``: a Caffe prototxt against the kit's net, layer by layer (no Caffe needed).
- ``port``: a third-party PyTorch FCN against a kit net (``.venv/bin/python -m reproduce.audit.port
  FILE.py:FACTORY --net NET``): ``port_mapping`` maps the kit's weights into it, ``port_trace`` watches its
  modules, ``port_localise`` finds the first blob that differs and how.
- ``claims``: the claims ledger as data, one ``Claim`` per claim of the two papers and the reference release.
- ``ledger``: its reader and checker (``.venv/bin/python -m reproduce.audit.ledger``).
- ``report``: the HTML page and Markdown summary of all of it (``.venv/bin/python -m reproduce.audit.report``),
  rendered from ``templates/``.
"""
