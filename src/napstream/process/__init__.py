"""napstream.process"""
