"""Testing support: the local QQ platform emulator and the test client built on it."""
