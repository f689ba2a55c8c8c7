"""The client side of foxden: `Fox` (Renderbus-compatible), `Client` (typed) and transfers."""
