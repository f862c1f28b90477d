"""napstream.plot"""
