"""The vendor's current SDK (`rayvision_api`): its signed API under `/api/render` and
`/api/rendering`, every reply in its envelope. `router` verifies and dispatches; each module named
for a part of the API registers its paths with `calls.handles`."""
