"""The real OpenAI SDK is installed and can be pointed at a loopback server."""
import http.server
import json
import threading


def test_openai_client_on_loopback():
    import openai

    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen["path"] = self.path
            body = json.dumps({"object": "list", "data": [{"id": "some-image-model", "object": "model",
                                                           "created": 0, "owned_by": "test"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = openai.OpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{server.server_port}/v1",
                               max_retries=0, timeout=10)
        models = client.models.list()
        assert [m.id for m in models.data] == ["some-image-model"]
        assert seen["path"] == "/v1/models"
    finally:
        server.shutdown()
