"""Images: conversion between the kinds users hand us and the core's tensors, files, resizing."""
