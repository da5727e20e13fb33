"""The features blueprint."""

from flask import Blueprint

bp = Blueprint("features", __name__)
