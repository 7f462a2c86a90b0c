"""Taking in a class as instructors download it: learning platforms' zips (zips.py), one notebook per student (duplicates.py)."""
