"""What the fleet runs: the live (or recorded) firmware inventory of every host."""
