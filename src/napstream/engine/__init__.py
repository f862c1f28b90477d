"""napstream.engine"""
