"""Reception: reply scripts, the employee directory, console accounts, phones and feedback."""
