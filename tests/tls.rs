//! The HTTPS client every AWS client is built with (`seatkeeper::app::sdk_config`: hyper and
//! rustls over ring) against a real TLS server: the rest of the suite talks plain HTTP to
//! DynamoDB Local, so this is where the handshake and the certificate check are exercised. A
//! test binary of its own: the client reads its trusted roots once per process, so
//! `SSL_CERT_FILE` must name the test CA before any client is built.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A DynamoDB-shaped JSON answer over TLS with `cert`, on a loopback port.
const SERVER: &str = r#"
import http.server, json, ssl, sys
class Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({"TableNames": ["over-tls:" + self.headers.get("x-amz-target", "")]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = tls.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl").current_dir(dir).args(args).stderr(Stdio::null()).status().expect("openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA and a certificate for `localhost` signed by it, in `dir`.
fn certificates(dir: &Path) {
    std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n")
        .unwrap();
    for args in [
        &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"][..],
        &["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=seatkeeper test CA", "-days", "1", "-out", "ca.pem"],
        &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key"],
        &["req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr"],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    ] {
        openssl(dir, args);
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path) -> (Server, u16) {
    let mut child = Command::new("python3")
        .args(["-c", SERVER])
        .arg(dir.join("server.pem"))
        .arg(dir.join("server.key"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().parse().expect("the server's port");
    (Server(child), port)
}

async fn list_tables(endpoint: &str) -> Result<Vec<String>, String> {
    let sdk = seatkeeper::app::sdk_config().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(endpoint).build();
    let out = aws_sdk_dynamodb::Client::from_conf(conf).list_tables().send().await;
    out.map(|o| o.table_names.unwrap_or_default())
        .map_err(|e| format!("{:?}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
}

#[tokio::test]
async fn the_aws_clients_speak_tls_and_check_the_certificate() {
    let dir = std::env::temp_dir().join(format!("seatkeeper-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    // The client trusts the roots `SSL_CERT_FILE` names (rustls-native-certs).
    std::env::set_var("SSL_CERT_FILE", dir.join("ca.pem"));
    let (_server, port) = serve(&dir);

    let tables = list_tables(&format!("https://localhost:{port}")).await.expect("a call over TLS");
    assert_eq!(tables, vec!["over-tls:DynamoDB_20120810.ListTables".to_string()]);

    // The same server under a name its certificate does not carry: refused by the client.
    let refused = list_tables(&format!("https://127.0.0.1:{port}")).await.expect_err("a name mismatch");
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");
}
