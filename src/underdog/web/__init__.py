"""``underdog serve``: a local web page over the same operations the CLI runs.

``app`` holds the routes, ``security`` the guards (Host, token, body size), ``ops`` the
operations the routes call, and ``static/`` the page (plain HTML, CSS and JavaScript, no
build step, nothing fetched from the internet). See docs/web.md.
"""
