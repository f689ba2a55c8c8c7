"""Attacks on the farm, each run for real: the attack fails and the legitimate path still works."""
