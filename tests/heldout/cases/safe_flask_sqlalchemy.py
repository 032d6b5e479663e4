"""Flask-SQLAlchemy: the extension owns the session and removes it at teardown."""

from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
db = SQLAlchemy(app)


class Note(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    text = db.Column(db.String)


@app.route("/notes")
def notes():
    rows = db.session.execute(db.select(Note)).scalars().all()
    return jsonify([n.text for n in rows])
