#!/usr/bin/env python3
"""A minimal Git LFS Batch API responder for the benchmarks (download only).

It answers POST .../info/lfs/objects/batch for any repository path with "basic" download
actions whose hrefs point at http://<Host of the request>/lfs/objects/<oid>, where nginx
serves the object files from OBJECTS_DIR (one file per object, named by its oid) with
sendfile. The Host header is the one the client sent to nginx (nginx passes it on), so the
hrefs are right whatever port nginx listens on. An oid whose file is missing or has another
size gets the per-object error 404, as the spec says. Any other path (the locks API
included) is 404, which git-lfs accepts from a server without locking. Upload requests are
refused with 403: the benchmarks only download.

Spec: https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md

Usage: lfs_batch_server.py OBJECTS_DIR PORT_FILE
Listens on 127.0.0.1 on a free port and writes the port number to PORT_FILE once ready.
"""

import http.server
import json
import os
import re
import sys

MEDIA_TYPE = "application/vnd.git-lfs+json"
OID_RE = re.compile(r"^[0-9a-f]{64}$")


class BatchHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    objects_dir = "."

    def log_message(self, fmt, *args):  # keep the benchmark output quiet
        pass

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", MEDIA_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.send_json(404, {"message": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.split("?")[0].endswith("/info/lfs/objects/batch"):
            self.send_json(404, {"message": "not found"})
            return
        try:
            req = json.loads(raw)
            operation = req["operation"]
            objects = req["objects"]
        except (ValueError, KeyError, TypeError):
            self.send_json(422, {"message": "malformed batch request"})
            return
        if operation != "download":
            self.send_json(403, {"message": "this benchmark upstream is read-only"})
            return
        if len(objects) > 100:
            self.send_json(413, {"message": "more than 100 objects"})
            return
        base = "http://" + self.headers.get("Host", "127.0.0.1") + "/lfs/objects/"
        answer = []
        for o in objects:
            oid, size = str(o.get("oid", "")), o.get("size")
            entry = {"oid": oid, "size": size}
            path = os.path.join(self.objects_dir, oid)
            if not OID_RE.match(oid) or not isinstance(size, int):
                entry["error"] = {"code": 422, "message": "invalid oid or size"}
            elif not os.path.isfile(path) or os.path.getsize(path) != size:
                entry["error"] = {"code": 404, "message": "Object does not exist"}
            else:
                entry["authenticated"] = True
                entry["actions"] = {"download": {"href": base + oid, "expires_in": 3600}}
            answer.append(entry)
        self.send_json(200, {"transfer": "basic", "objects": answer, "hash_algo": "sha256"})


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    BatchHandler.objects_dir = sys.argv[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BatchHandler)
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, sys.argv[2])
    server.serve_forever()


if __name__ == "__main__":
    main()
