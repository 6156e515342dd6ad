"""Instruments that know nothing of runners: statements, round trips, the delay proxy, native
ceilings, CPU meters, the machine, and the self-check."""
