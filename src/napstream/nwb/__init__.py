"""napstream.nwb"""
