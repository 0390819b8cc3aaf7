"""Automatic push of alerts to police dispatch (112) and probation: what is sent, to whom, and how it
is delivered and answered."""
