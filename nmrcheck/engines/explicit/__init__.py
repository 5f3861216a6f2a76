"""engines/explicit"""
