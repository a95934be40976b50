"""What and when to transfer: transferability scores and the ranking of candidates."""
