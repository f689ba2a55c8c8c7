"""The farm's web site: pages served by the farm server itself (see `foxden.web.routes`)."""
