//! `pods/P/portforward`: the stream protocol kubectl speaks to forward a local port to a pod.
//!
//! kubectl 1.35 first asks for a WebSocket that tunnels SPDY (`SPDY/3.1+portforward.k8s.io`);
//! an answer other than 101 is an upgrade failure, and it falls back to SPDY/3.1 over the plain
//! HTTP upgrade (`Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io`), which is
//! what this serves (kubectl `pkg/cmd/portforward/portforward.go` NewFallbackDialer and
//! httpstream.IsUpgradeFailure).
//!
//! On the connection, for each local connection kubectl opens two streams with SYN_STREAM
//! frames whose headers say `streamtype` (`error` or `data`), `port` and `requestid`, and waits
//! for a SYN_REPLY to each (client-go `tools/portforward/portforward.go` handleConnection). The
//! data stream carries the bytes both ways; the error stream carries a message when the port
//! cannot be reached, and ends (FIN) when the forwarding does: kubectl waits for that end before
//! it closes the local connection. Frames are SPDY/3 (draft 3 spec, section 2.2; moby/spdystream
//! `spdy/read.go`, `write.go`): 8-byte headers, control frames SYN_STREAM (1), SYN_REPLY (2),
//! RST_STREAM (3), SETTINGS (4), PING (6), GOAWAY (7), HEADERS (8), WINDOW_UPDATE (9); header
//! blocks zlib-compressed with the spec's dictionary, one zlib stream per direction for the whole
//! connection, each block ended with a sync flush. spdystream does no flow control, so neither
//! does this.

use std::collections::HashMap;
use std::net::SocketAddr;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const FLAG_FIN: u8 = 1;

/// The SPDY/3 header-compression dictionary (SPDY draft 3, section 2.6.10.1), 1423 bytes.
#[rustfmt::skip]
pub const DICTIONARY: &[u8] = b"\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\x00\x00\x00\x03put\x00\x00\x00\
    \x06delete\x00\x00\x00\x05trace\x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-charset\x00\x00\
    \x00\x0faccept-encoding\x00\x00\x00\x0faccept-language\x00\x00\x00\x0daccept-ranges\x00\x00\
    \x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\x0dauthorization\x00\x00\x00\x0dcache-control\x00\
    \x00\x00\x0aconnection\x00\x00\x00\x0ccontent-base\x00\x00\x00\x10content-encoding\x00\x00\x00\
    \x10content-language\x00\x00\x00\x0econtent-length\x00\x00\x00\x10content-location\x00\x00\x00\
    \x0bcontent-md5\x00\x00\x00\x0dcontent-range\x00\x00\x00\x0ccontent-type\x00\x00\x00\x04dat\
    e\x00\x00\x00\x04etag\x00\x00\x00\x06expect\x00\x00\x00\x07expires\x00\x00\x00\x04from\x00\x00\
    \x00\x04host\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since\x00\x00\x00\x0dif-non\
    e-match\x00\x00\x00\x08if-range\x00\x00\x00\x13if-unmodified-since\x00\x00\x00\x0dlast-modi\
    fied\x00\x00\x00\x08location\x00\x00\x00\x0cmax-forwards\x00\x00\x00\x06pragma\x00\x00\x00\x12\
    proxy-authenticate\x00\x00\x00\x13proxy-authorization\x00\x00\x00\x05range\x00\x00\x00\x07r\
    eferer\x00\x00\x00\x0bretry-after\x00\x00\x00\x06server\x00\x00\x00\x02te\x00\x00\x00\x07tr\
    ailer\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgrade\x00\x00\x00\x0auser-agent\x00\
    \x00\x00\x04vary\x00\x00\x00\x03via\x00\x00\x00\x07warning\x00\x00\x00\x10www-authenticate\x00\
    \x00\x00\x06method\x00\x00\x00\x03get\x00\x00\x00\x06status\x00\x00\x00\x06200 OK\x00\x00\x00\
    \x07version\x00\x00\x00\x08HTTP/1.1\x00\x00\x00\x03url\x00\x00\x00\x06public\x00\x00\x00\x0a\
    set-cookie\x00\x00\x00\x0akeep-alive\x00\x00\x00\x06origin100101201202205206300302303304305\
    306307402405406407408409410411412413414415416417502504505203 Non-Authoritative Information2\
    04 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found\
    500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun \
    Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,i\
    mage/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascri\
    pt,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/// Where a pod's port leads: the address of a process serving it, or why there is none.
pub type Resolve = Box<dyn Fn(u16) -> Result<SocketAddr, String> + Send + Sync>;

fn frame_header(out: &mut Vec<u8>, kind: u16, flags: u8, length: usize) {
    out.extend_from_slice(&(0x8000u16 | 3).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
}

fn data_frame(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

struct Headers {
    inflate: Decompress,
    deflate: Compress,
}

impl Headers {
    fn new() -> Headers {
        Headers {
            inflate: Decompress::new(true),
            deflate: Compress::new(Compression::default(), true),
        }
    }

    fn read(&mut self, block: &[u8]) -> Result<HashMap<String, String>, String> {
        let mut plain = Vec::with_capacity(block.len() * 4 + 256);
        let mut input = block;
        loop {
            let before_in = self.inflate.total_in();
            let result = self.inflate.decompress_vec(input, &mut plain, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - before_in) as usize;
            input = &input[used..];
            match result {
                Ok(_) if input.is_empty() && plain.len() < plain.capacity() => break,
                Ok(_) => plain.reserve(plain.capacity().max(1024)),
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(DICTIONARY)
                        .map_err(|e| format!("the SPDY dictionary: {e}"))?;
                }
                Err(e) => return Err(format!("a SPDY header block does not inflate: {e}")),
            }
        }
        let mut at = 0usize;
        let count = word(&plain, &mut at)?;
        let mut headers = HashMap::new();
        for _ in 0..count {
            let name = text(&plain, &mut at)?;
            let value = text(&plain, &mut at)?;
            headers.insert(name, value);
        }
        Ok(headers)
    }

    /// An empty header block (no name/value pairs), as a reply needs.
    fn empty(&mut self) -> Result<Vec<u8>, String> {
        if self.deflate.total_in() == 0 {
            self.deflate
                .set_dictionary(DICTIONARY)
                .map_err(|e| format!("the SPDY dictionary: {e}"))?;
        }
        let mut out = Vec::with_capacity(64);
        self.deflate
            .compress_vec(&0u32.to_be_bytes(), &mut out, FlushCompress::Sync)
            .map_err(|e| format!("deflate: {e}"))?;
        Ok(out)
    }
}

fn word(plain: &[u8], at: &mut usize) -> Result<usize, String> {
    let bytes = plain.get(*at..*at + 4).ok_or("a SPDY header block ends early")?;
    *at += 4;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
}

fn text(plain: &[u8], at: &mut usize) -> Result<String, String> {
    let length = word(plain, at)?;
    let bytes = plain.get(*at..*at + length).ok_or("a SPDY header block ends early")?;
    *at += length;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// One forwarded connection: its two streams, and where the client's bytes go.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
    to_target: Option<mpsc::UnboundedSender<Option<Vec<u8>>>>,
}

/// Serves one upgraded connection until the client goes away.
pub async fn serve<Io>(io: Io, resolve: Resolve)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(io);
    let (frames, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
    let writing = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut headers = Headers::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut by_stream: HashMap<u32, String> = HashMap::new();
    let mut head = [0u8; 8];
    while reader.read_exact(&mut head).await.is_ok() {
        let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let flags = head[4];
        let mut payload = vec![0u8; length];
        if reader.read_exact(&mut payload).await.is_err() {
            break;
        }
        if head[0] & 0x80 == 0 {
            let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
            let Some(pair) = by_stream.get(&stream).and_then(|id| pairs.get_mut(id)) else {
                continue;
            };
            if pair.data == Some(stream)
                && let Some(target) = &pair.to_target
            {
                if !payload.is_empty() {
                    let _ = target.send(Some(payload));
                }
                if flags & FLAG_FIN != 0 {
                    let _ = target.send(None);
                }
            }
            continue;
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        match kind {
            SYN_STREAM if payload.len() >= 10 => {
                let stream = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
                let Ok(fields) = headers.read(&payload[10..]) else {
                    break;
                };
                let Ok(block) = headers.empty() else { break };
                let mut reply = Vec::new();
                frame_header(&mut reply, SYN_REPLY, 0, 4 + block.len());
                reply.extend_from_slice(&stream.to_be_bytes());
                reply.extend_from_slice(&block);
                let _ = frames.send(reply);
                let id = fields.get("requestid").cloned().unwrap_or_default();
                let pair = pairs.entry(id.clone()).or_default();
                pair.port = fields.get("port").and_then(|p| p.parse().ok()).unwrap_or(0);
                match fields.get("streamtype").map(String::as_str) {
                    Some("error") => pair.error = Some(stream),
                    Some("data") => pair.data = Some(stream),
                    _ => {}
                }
                by_stream.insert(stream, id);
                if let (Some(error), Some(data), None) = (pair.error, pair.data, &pair.to_target) {
                    let (to_target, from_client) = mpsc::unbounded_channel();
                    pair.to_target = Some(to_target);
                    tokio::spawn(forward(
                        resolve(pair.port),
                        pair.port,
                        error,
                        data,
                        from_client,
                        frames.clone(),
                    ));
                }
            }
            PING => {
                let mut echo = Vec::new();
                frame_header(&mut echo, PING, 0, payload.len());
                echo.extend_from_slice(&payload);
                let _ = frames.send(echo);
            }
            RST_STREAM if payload.len() >= 4 => {
                let stream = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
                if let Some(pair) = by_stream.remove(&stream).and_then(|id| pairs.remove(&id))
                    && let Some(target) = pair.to_target
                {
                    let _ = target.send(None);
                }
            }
            GOAWAY => break,
            _ => {}
        }
    }
    drop(pairs);
    drop(frames);
    let _ = writing.await;
}

/// Pumps one forwarded connection: the client's bytes to the target and back; then ends both
/// streams (an unreachable port: its message on the error stream first).
async fn forward(
    target: Result<SocketAddr, String>,
    port: u16,
    error: u32,
    data: u32,
    mut from_client: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    frames: mpsc::UnboundedSender<Vec<u8>>,
) {
    let connected = match target {
        Ok(address) => tokio::net::TcpStream::connect(address).await.map_err(|e| e.to_string()),
        Err(why) => Err(why),
    };
    let stream = match connected {
        Ok(stream) => stream,
        Err(why) => {
            // The kubelet's words (pkg/kubelet/cri/streaming/portforward/httpstream.go).
            let message = format!(
                "error forwarding port {port} to pod: failed to connect to localhost:{port} inside the pod: {why}"
            );
            let _ = frames.send(data_frame(error, 0, message.as_bytes()));
            let _ = frames.send(data_frame(error, FLAG_FIN, &[]));
            let _ = frames.send(data_frame(data, FLAG_FIN, &[]));
            return;
        }
    };
    let (mut target_read, mut target_write) = stream.into_split();
    let upstream = tokio::spawn(async move {
        while let Some(Some(bytes)) = from_client.recv().await {
            if target_write.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = target_write.shutdown().await;
    });
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        match target_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if frames.send(data_frame(data, 0, &buffer[..n])).is_err() {
                    break;
                }
            }
        }
    }
    let _ = frames.send(data_frame(data, FLAG_FIN, &[]));
    let _ = frames.send(data_frame(error, FLAG_FIN, &[]));
    upstream.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_the_spec_s() {
        assert_eq!(DICTIONARY.len(), 1423);
        // The Adler-32 a zlib stream names its preset dictionary by (RFC 1950 DICTID).
        let mut deflate = Compress::new(Compression::default(), true);
        let id = deflate.set_dictionary(DICTIONARY).unwrap();
        assert_eq!(id, 0xe3c6_a7c2);
    }

    #[test]
    fn header_blocks_round_trip_through_one_zlib_stream() {
        let mut ours = Headers::new();
        let mut theirs = Headers::new();
        for _ in 0..2 {
            let block = ours.empty().unwrap();
            assert!(theirs.read(&block).unwrap().is_empty());
        }
    }
}
