"""The composition root: the Flask app factory, the ``loyalty`` CLI, and (later) the web
surfaces. With ``scheduler``, the only package that opens sessions, reads the environment
and wires packages together. It may import everything; nothing imports it."""
