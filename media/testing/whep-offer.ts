// A browser's WHEP offer, as Chromium makes it (receive-only H.264 + Opus, bundled, ICE gathered): for tests that
// negotiate without a browser (refusals, churn). Its candidates lead nowhere, so a viewer answered with it never
// connects.
export function chromiumOffer(options: { video?: boolean; audio?: boolean } = {}): string {
  const video = options.video ?? true;
  const audio = options.audio ?? true;
  const mids = [...(video ? ["0"] : []), ...(audio ? [video ? "1" : "0"] : [])];
  const common = (mid: string) => [
    "c=IN IP4 127.0.0.1",
    "a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host generation 0",
    "a=ice-ufrag:Xq3v",
    "a=ice-pwd:4mXgqVSnEHZ2Rxk1Fo4eNm6c",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 3B:E2:2C:3F:41:AA:60:8E:28:11:7B:2E:2A:15:0E:47:9B:52:32:16:9D:64:9A:0B:A0:52:62:49:85:D2:44:26",
    "a=setup:actpass",
    `a=mid:${mid}`,
    "a=recvonly",
    "a=rtcp-mux",
  ];
  const lines = [
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    `a=group:BUNDLE ${mids.join(" ")}`,
  ];
  if (video) {
    lines.push(
      "m=video 9 UDP/TLS/RTP/SAVPF 96 102 103 127",
      ...common(mids[0]!),
      "a=rtcp-rsize",
      "a=rtpmap:96 VP8/90000",
      "a=rtcp-fb:96 nack pli",
      "a=rtpmap:102 H264/90000",
      "a=rtcp-fb:102 nack pli",
      "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
      "a=rtpmap:103 rtx/90000",
      "a=fmtp:103 apt=102",
      "a=rtpmap:127 H264/90000",
      "a=rtcp-fb:127 nack pli",
      "a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
    );
  }
  if (audio) {
    lines.push(
      "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
      ...common(mids.at(-1)!),
      "a=rtpmap:111 opus/48000/2",
      "a=fmtp:111 minptime=10;useinbandfec=1",
      "a=rtpmap:0 PCMU/8000",
    );
  }
  return lines.join("\r\n") + "\r\n";
}
