#!/usr/bin/env python3
"""A fake OpenAI-compatible provider for tests: a real HTTP server that can be slow, rate-limit
and misbehave.

    fake_openai_server.py [--port 0] [--dimensions 8]

Prints "PORT <n>" once listening. Endpoints:
  POST /v1/embeddings        deterministic unit vectors (base64 or float lists), index order
                             shuffled to prove clients reorder
  POST /v1/chat/completions  "Summary: <first 80 chars of the user message>"
  POST /control              {"faults": [...], "chat_faults": [...], "retry_after_ms": 200,
                             "latency_ms": 0}: each fault ("429", "500", "slow", "malformed",
                             "401", and for embeddings "wrong_dims", "nan", "short", or "none")
                             applies to one coming request of its endpoint, in order
  GET  /stats                {"embeddings": n, "chat": n, "inputs": n, "max_batch": n,
                             "embedding_tokens": n, "chat_prompt_tokens": n,
                             "chat_completion_tokens": n}
Answers carry `usage`, one token per four bytes of text.
"""
import argparse
import base64
import hashlib
import json
import math
import random
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"faults": [], "chat_faults": [], "retry_after_ms": 200, "latency_ms": 0,
         "dimensions": 8}
STATS = {"embeddings": 0, "chat": 0, "inputs": 0, "max_batch": 0, "system_prompt": "",
         "embedding_tokens": 0, "chat_prompt_tokens": 0, "chat_completion_tokens": 0}


def tokens(text):
    """What the fake says a text costs: one token per four bytes, at least one."""
    return max(1, len(text.encode()) // 4)
LOCK = threading.Lock()


def vector(text, dims):
    raw = [((b / 255.0) - 0.5) for b in hashlib.sha256(text.encode()).digest()]
    values = [raw[i % len(raw)] + 0.001 * i for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY the second waits for the
    # client's delayed ACK (~40 ms), which would make the fake slower than its latency setting.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                self.reply(200, dict(STATS))
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/control":
            with LOCK:
                STATE.update(body)
                for k in STATS:
                    STATS[k] = "" if k == "system_prompt" else 0
            self.reply(200, {"ok": True})
            return
        with LOCK:
            queue = STATE["chat_faults"] if self.path.endswith("/chat/completions") else STATE["faults"]
            fault = queue.pop(0) if queue else None
            latency = STATE["latency_ms"]
            retry_after = STATE["retry_after_ms"]
            dims = STATE["dimensions"]
        if latency:
            time.sleep(latency / 1000.0)
        if fault == "slow":
            time.sleep(3)
        if fault == "429":
            self.reply(429, {"error": {"message": "rate limited"}},
                       {"retry-after-ms": str(retry_after)})
            return
        if fault == "500":
            self.reply(500, {"error": {"message": "boom"}})
            return
        if fault == "401":
            self.reply(401, {"error": {"message": "bad key"}})
            return
        if fault == "malformed":
            self.reply(200, b"{not json")
            return
        if self.path == "/v1/embeddings":
            inputs = body["input"]
            with LOCK:
                STATS["embeddings"] += 1
                STATS["inputs"] += len(inputs)
                STATS["max_batch"] = max(STATS["max_batch"], len(inputs))
            used = sum(tokens(t) for t in inputs)
            n = dims + 1 if fault == "wrong_dims" else dims
            data = []
            for i, text in enumerate(inputs):
                v = vector(text, n)
                if fault == "nan" and i == 0:
                    v[0] = float("nan")
                if body.get("encoding_format") == "base64":
                    emb = base64.b64encode(struct.pack("<%df" % len(v), *v)).decode()
                else:
                    emb = v
                data.append({"object": "embedding", "index": i, "embedding": emb})
            if fault == "short":
                data = data[:-1]
            random.shuffle(data)
            self.reply(200, {"object": "list", "data": data, "model": body.get("model"),
                             "usage": {"prompt_tokens": used, "total_tokens": used}})
            with LOCK:
                STATS["embedding_tokens"] += used
        elif self.path == "/v1/chat/completions":
            with LOCK:
                STATS["chat"] += 1
                STATS["system_prompt"] = body["messages"][0]["content"]
            text = body["messages"][-1]["content"]
            content = "Summary: " + text[:80]
            prompt = sum(tokens(m["content"]) for m in body["messages"])
            completion = tokens(content)
            with LOCK:
                STATS["chat_prompt_tokens"] += prompt
                STATS["chat_completion_tokens"] += completion
            self.reply(200, {"choices": [{"index": 0, "message": {
                "role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion}})
        else:
            self.reply(404, {"error": "not found"})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dimensions", type=int, default=8)
    args = parser.parse_args()
    STATE["dimensions"] = args.dimensions
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
