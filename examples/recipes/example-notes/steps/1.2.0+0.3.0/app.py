"""example-notes: a tiny notes service backed by PostgreSQL (stdlib + psycopg2)."""

import html
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import psycopg2

VERSION = os.environ.get("NOTES_VERSION", "unknown")
PORT = int(os.environ.get("PORT", "8080"))
MAX_BODY = 64 * 1024

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text NOT NULL)",
    # 0.2.0: notes remember when they were written (existing rows get the upgrade time).
    "ALTER TABLE notes ADD COLUMN IF NOT EXISTS created timestamptz NOT NULL DEFAULT now()",
]
LIST_NOTES = "SELECT id, body, created FROM notes ORDER BY id"
FIELDS = ("id", "body", "created")

SCHEMA_LOCK_KEY = 7_310_001  # advisory lock: one schema migration at a time, across replicas

_schema_ready = False
_schema_lock = threading.Lock()


def db_password():
    with open(os.environ.get("DB_PASSWORD_FILE", "/run/secrets/db_password")) as f:
        return f.read().strip()


def connect():
    """Open an autocommit connection; short timeout so /health answers quickly."""
    conn = psycopg2.connect(
        host=os.environ.get("DB_HOST", "db"),
        dbname=os.environ.get("DB_NAME", "notes"),
        user=os.environ.get("DB_USER", "postgres"),
        password=db_password(),
        connect_timeout=3,
    )
    conn.autocommit = True
    return conn


def ensure_schema(conn):
    """Create or migrate the schema once; concurrent CREATE TABLE IF NOT EXISTS can race."""
    global _schema_ready
    with _schema_lock:
        if _schema_ready:
            return
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            for statement in SCHEMA:
                cur.execute(statement)
        conn.commit()
        conn.autocommit = True
        _schema_ready = True


def query(sql, params=(), fetch=True):
    """Run one statement on a fresh connection, creating the schema on first use."""
    conn = connect()
    try:
        ensure_schema(conn)
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if fetch else None
    finally:
        conn.close()


def page(rows):
    """The front page: every note, newest last, and a form adding one."""
    items = "".join('<li data-id="%d">%s</li>' % (row[0], html.escape(row[1])) for row in rows)
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Notes</title></head><body>"
        "<h1>Notes</h1><ul id=notes>%s</ul>"
        '<form method=post action="/notes"><label>New note <input name=body required>'
        "</label><button type=submit>Add</button></form>"
        "<p>example-notes %s</p></body></html>" % (items, html.escape(VERSION))
    )


class Handler(BaseHTTPRequestHandler):
    server_version = "example-notes/" + VERSION

    def send(self, status, body, content_type="text/plain; charset=utf-8"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def unavailable(self, exc):
        reason = " ".join(str(exc).split())
        self.log_message("database unavailable: %s", reason)
        self.send(503, "database unavailable: %s\n" % reason)

    def send_json(self, status, value):
        text = json.dumps(value, default=lambda v: v.isoformat())
        self.send(status, text + "\n", "application/json")

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        try:
            if path == "/":
                self.send(200, page(query(LIST_NOTES)), "text/html; charset=utf-8")
            elif path == "/health":
                query("SELECT 1")
                self.send(200, "ok\n")
            elif path == "/version":
                self.send(200, "example-notes " + VERSION + "\n")
            elif path == "/stats":
                (count,) = query("SELECT count(*) FROM notes")[0]
                self.send_json(200, {"notes": count, "version": VERSION})
            elif path == "/notes":
                rows = query(LIST_NOTES)
                self.send_json(200, [dict(zip(FIELDS, row)) for row in rows])
            else:
                self.send(404, "not found\n")
        except psycopg2.Error as exc:
            self.unavailable(exc)

    def do_POST(self):
        if self.path.split("?", 1)[0] != "/notes":
            self.send(404, "not found\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self.send(400, "send the note text as the request body\n")
            return
        raw = self.rfile.read(length).decode("utf-8", "replace")
        body = raw
        content_type = self.headers.get("Content-Type", "")
        from_form = content_type.startswith("application/x-www-form-urlencoded")
        if from_form:
            body = "".join(parse_qs(raw).get("body", [""])).strip()
            if not body:
                self.send(400, "the note is empty\n")
                return
        elif content_type.startswith("application/json"):
            try:
                body = json.loads(raw)["body"]
            except (ValueError, KeyError, TypeError):
                self.send(400, 'expected {"body": "..."}\n')
                return
        try:
            rows = query("INSERT INTO notes (body) VALUES (%s) RETURNING " + ", ".join(FIELDS),
                         (str(body),))
        except psycopg2.Error as exc:
            self.unavailable(exc)
            return
        if from_form:  # the browser's form: back to the list, which shows the new note
            self.send_response(303)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_json(201, dict(zip(FIELDS, rows[0])))

    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def main():
    # PID 1 gets no default SIGTERM handling: exit promptly when swarm stops the task.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("", PORT), Handler)
    server.daemon_threads = True
    print("example-notes %s listening on :%d" % (VERSION, PORT), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
