// What the viewer page's browser gets: the HTML of the room list and of a room, its stylesheet and script (plain
// JavaScript, no build step), and the public view of a room (/rooms/<id>/room.json) that the script reads. Routes and
// their rules are viewer.ts's. Every text of a viewer, of the model or of the catalog reaches the page as data and is
// put in with textContent; what is rendered here is escaped, and the page's Content-Security-Policy runs no script
// but these assets.
import { roomStateToJSON, type Money, type Room } from "../proto/index.js";

/** What a viewer may know of a room: its title, state, host's name and catalog (no persona rules, outputs, labels). */
export interface PublicRoom {
  id: string;
  title: string;
  /** RoomState's name, e.g. "ROOM_STATE_LIVE". */
  state: string;
  hostName: string;
  showProductId: string;
  catalog: {
    title: string;
    language: string;
    currency: string;
    products: {
      id: string;
      title: string;
      price?: Money;
      originalPrice?: Money;
      stock: number;
      restockDate: string;
      sellingPoints: string[];
      coupons: { id: string; title: string; threshold?: Money; discount?: Money }[];
      imageUri: string;
    }[];
  };
}

export function publicRoom(room: Room): PublicRoom {
  const catalog = room.spec?.catalog;
  return {
    id: room.id,
    title: room.spec?.displayName || catalog?.title || room.id,
    state: roomStateToJSON(room.status?.state ?? 0),
    hostName: room.spec?.persona?.name ?? "",
    // The product the show presents, as the room's record last said (a page opened mid-show starts there).
    showProductId: room.status?.show?.productId ?? "",
    catalog: {
      title: catalog?.title ?? "",
      language: catalog?.language ?? "",
      currency: catalog?.currency ?? "",
      products: (catalog?.products ?? []).map((p) => ({
        id: p.id,
        title: p.title,
        price: p.price,
        originalPrice: p.originalPrice,
        stock: p.stock,
        restockDate: p.restockDate,
        sellingPoints: p.sellingPoints,
        coupons: p.coupons.map((c) => ({ id: c.id, title: c.title, threshold: c.threshold, discount: c.discount })),
        imageUri: p.imageUri,
      })),
    },
  };
}

/**
 * The page's own policy: scripts and styles from this origin only (no inline script runs, so text that slipped into
 * the markup could not), media from here and hls.js's blob: URLs, product images over https.
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "media-src 'self' blob:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The page's words, in the catalog's language (Mandarin for zh-*, English otherwise). */
const strings = {
  zh: {
    aiHost: "AI 主播",
    aiHostTitle: "本直播间的主播是 AI 数字人，画面与声音由 AI 生成",
    ask: "问问主播…",
    send: "发送",
    welcome: "欢迎来到直播间！有问题直接问 AI 主播，价格、尺码、库存都可以问。",
    you: "我",
    viewer: "观众",
    unknownQuestion: "（一位观众的提问）",
    sending: "发送中…",
    waiting: "已发送，等待主播回答…",
    answered: "主播已回答",
    failed: "发送失败：",
    offline: "发送失败，请检查网络后重试",
    join: "",
    states: { live: "直播中", paused: "暂停中", ended: "直播已结束", waiting: "未开播" },
    link: "{n}号链接",
    stock: "库存 {n} 件",
    soldOut: "已售罄",
    restock: "{date} 补货",
    soundOn: "开声音",
    soundOff: "静音",
    events: "events",
    close: "关闭",
    reasons: {
      expired: "主播没来得及回答这条评论",
      busy: "提问太多，主播先回答了其他问题",
      interrupted: "回答被打断了，可以再问一次",
      flood: "发言太频繁，请稍后再试",
      duplicate: "这条评论已经发过了",
      banned: "评论未通过审核",
      spam: "评论未通过审核",
      abuse: "评论未通过审核",
      ad_bait: "评论未通过审核",
      medical: "评论未通过审核",
      politics: "评论未通过审核",
      personal_data: "评论未通过审核",
      unavailable: "暂时无法回答，请稍后再问",
      invalid: "评论无效",
      room_ended: "直播已结束",
      not_live: "直播还没开始，开播后再问吧",
      other: "这条评论没有被回答",
    },
  },
  en: {
    aiHost: "AI host",
    aiHostTitle: "The host of this live room is an AI digital human; its picture and voice are AI-generated",
    ask: "Ask the host…",
    send: "Send",
    welcome: "Welcome! Ask the AI host anything: prices, sizes, stock.",
    you: "me",
    viewer: "viewer",
    unknownQuestion: "(a viewer's question)",
    sending: "Sending…",
    waiting: "Sent, waiting for the host…",
    answered: "Answered",
    failed: "Not sent: ",
    offline: "Not sent: check your connection and try again",
    join: " ",
    states: { live: "LIVE", paused: "Paused", ended: "Ended", waiting: "Not live yet" },
    link: "#{n}",
    stock: "{n} in stock",
    soldOut: "Sold out",
    restock: "back {date}",
    soundOn: "Sound on",
    soundOff: "Mute",
    events: "events",
    close: "Close",
    reasons: {
      expired: "The host did not get to this one in time",
      busy: "Many questions: the host answered others first",
      interrupted: "The answer was cut off; ask again",
      flood: "Too many comments; slow down a little",
      duplicate: "Already sent",
      banned: "Not allowed by moderation",
      spam: "Not allowed by moderation",
      abuse: "Not allowed by moderation",
      ad_bait: "Not allowed by moderation",
      medical: "Not allowed by moderation",
      politics: "Not allowed by moderation",
      personal_data: "Not allowed by moderation",
      unavailable: "Could not be answered right now; ask again later",
      invalid: "Not a valid comment",
      room_ended: "The live has ended",
      not_live: "Not live yet: ask again once it starts",
      other: "Not answered",
    },
  },
};

const languageOf = (room: PublicRoom) => (room.catalog.language.toLowerCase().startsWith("zh") ? "zh" : "en");

export function listPageHtml(rooms: PublicRoom[]): string {
  const items = rooms.map((r) => `<li><a href="/rooms/${escape(r.id)}">${escape(r.title)}</a></li>`).join("");
  return page(
    "en",
    "livehost",
    `<main class="list"><h1>livehost rooms</h1><ul>${items || "<li>no rooms yet</li>"}</ul></main>`,
  );
}

export function roomPageHtml(room: PublicRoom): string {
  const language = languageOf(room);
  const t = strings[language];
  const config = {
    roomId: room.id,
    locale: room.catalog.language || (language === "zh" ? "zh-CN" : "en-US"),
    strings: t,
  };
  return page(
    language,
    room.title,
    `<main class="room">
<header class="top">
<span class="ai-label" title="${escape(t.aiHostTitle)}">${escape(t.aiHost)}</span>
<span class="host-name" id="host-name">${escape(room.hostName)}</span>
<h1 id="title">${escape(room.title)}</h1>
<span class="state" id="state"></span>
<button type="button" id="events-toggle" aria-controls="operator" aria-pressed="false">${escape(t.events)}</button>
</header>
<div class="stage"><video id="video" autoplay muted playsinline></video>
<button type="button" id="sound"></button></div>
<aside class="side">
<section class="product" id="product" aria-live="polite" hidden></section>
<ol class="chat" id="chat" aria-live="polite"><li class="system">${escape(t.welcome)}</li></ol>
<form id="comment">
<input name="text" maxlength="200" placeholder="${escape(t.ask)}" autocomplete="off" enterkeyhint="send">
<button>${escape(t.send)}</button></form>
</aside>
<section id="operator" hidden>
<header><h2>events</h2><button type="button" id="events-close">${escape(t.close)}</button></header>
<ol id="events"></ol></section>
</main>
<script type="application/json" id="room-config">${scriptJson(config)}</script>
<script src="/assets/hls.min.js"></script>
<script src="/assets/viewer.js"></script>`,
  );
}

function page(language: string, title: string, body: string): string {
  return `<!doctype html><html lang="${language === "zh" ? "zh-CN" : "en"}"><head><meta charset="utf-8">
<title>${escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<link rel="stylesheet" href="/assets/viewer.css"></head><body>${body}</body></html>`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside a <script> element: nothing in it can close the element or start a comment. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

// Desktop: the 9:16 stream at full height, the product and the chat beside it. Phone (720 px wide or less): the
// stream fills the width under a slim header, the chat, the product and the comment box over its lower part, as
// live-commerce apps do. Long unbroken text wraps anywhere, so nothing scrolls sideways.
export const viewerCss = `:root{color-scheme:dark;--bg:#0d0d10;--panel:#1b1b21;--accent:#ff2d55;--muted:#a8a8b3}
*{box-sizing:border-box}
[hidden]{display:none!important}
html,body{margin:0;height:100%}
body{
  font:15px/1.4 system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC",sans-serif;background:var(--bg);
  color:#f2f2f5;overflow-x:hidden;
}
a{color:#8cf}
button{
  font:inherit;color:inherit;background:#ffffff26;border:0;border-radius:999px;padding:.3rem .8rem;cursor:pointer;
}
.list{padding:1rem}
.room{
  display:grid;grid-template-columns:auto minmax(18rem,26rem);grid-template-rows:auto minmax(0,1fr);
  grid-template-areas:"top top" "stage side";gap:.75rem 1rem;justify-content:center;height:100vh;height:100dvh;
  padding:1rem;overflow:hidden;
}
.top{grid-area:top;display:flex;align-items:center;gap:.5rem;min-width:0;height:2.5rem}
.top h1{flex:1;min-width:0;margin:0;font-size:1.05rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.ai-label{
  flex:none;background:var(--accent);color:#fff;font-weight:700;font-size:.8rem;padding:.15rem .5rem;
  border-radius:4px;white-space:nowrap;
}
.host-name{flex:none;max-width:8em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-weight:600}
.host-name:empty{display:none}
.state{flex:none;font-size:.8rem;color:var(--muted);white-space:nowrap}
.state.live{color:#fff}
.state.live::before{
  content:"";display:inline-block;width:.5em;height:.5em;border-radius:50%;background:var(--accent);margin-right:.3em;
}
#events-toggle{flex:none;font-size:.8rem;color:var(--muted)}
/* 9:16 at the height left (5.25rem: the page's padding, the header and the gap under it), as wide as the width
   leaves (21rem: the padding, the gap and the side's least width). A width of its own, so the grid sizes its column. */
.stage{
  grid-area:stage;position:relative;height:calc(100dvh - 5.25rem);
  width:min(calc((100dvh - 5.25rem) * 9 / 16),calc(100vw - 21rem));background:#000;border-radius:12px;overflow:hidden;
}
video{display:block;width:100%;height:100%;object-fit:contain;background:#000}
#sound{position:absolute;top:.5rem;right:.5rem;font-size:.8rem;background:#0009}
.side{grid-area:side;display:flex;flex-direction:column;gap:.75rem;min-height:0;min-width:0}
.product{display:flex;gap:.75rem;padding:.75rem;background:var(--panel);border-radius:12px}
.product .thumb{flex:none;width:4.5rem;height:4.5rem;object-fit:cover;border-radius:8px;background:#333}
.product .info{flex:1;min-width:0;display:flex;flex-direction:column;gap:.2rem}
.product .link{color:var(--muted);font-size:.8rem;margin-right:.4rem}
.product .title{font-weight:600;overflow-wrap:anywhere}
.product .point{color:var(--muted);font-size:.85rem;overflow-wrap:anywhere}
.price{color:var(--accent);font-size:1.35rem;font-weight:700}
.was{color:var(--muted);margin-left:.4rem;font-size:.85rem}
.coupon{
  display:inline-block;border:1px solid var(--accent);color:var(--accent);border-radius:4px;padding:0 .35rem;
  font-size:.8rem;margin-right:.5rem;
}
.stock{font-size:.85rem;color:var(--muted)}
.sold-out .price{color:var(--muted)}
.sold-out .stock{color:#ffb020;font-weight:600}
.chat{
  flex:1;min-height:0;overflow-y:auto;margin:0;padding:.6rem;list-style:none;background:var(--panel);
  border-radius:12px;display:flex;flex-direction:column;gap:.6rem;
}
.chat li{overflow-wrap:anywhere}
.chat .system{color:var(--muted);font-size:.85rem}
.chat .who{color:#9fd3ff;margin-right:.4rem;font-weight:600}
.chat .own .question .who{color:#ffd479}
.answer{
  margin:.3rem 0 0 .6rem;padding:.35rem .6rem;border-left:3px solid var(--accent);background:#ffffff12;
  border-radius:0 8px 8px 0;
}
.answer .who{color:var(--accent)}
.outcome{font-size:.8rem;color:var(--muted)}
.outcome:empty{display:none}
.rejected .outcome{color:#ffb020}
#comment{display:flex;gap:.5rem}
#comment input{
  flex:1;min-width:0;padding:.55rem .9rem;border-radius:999px;border:0;background:#ffffff26;color:inherit;
  font:inherit;
}
#comment button{flex:none;background:var(--accent);color:#fff;font-weight:600}
#operator{
  position:fixed;top:0;right:0;bottom:0;z-index:10;width:min(32rem,100vw);overflow-y:auto;padding:.75rem;
  background:#000000eb;font:12px/1.35 ui-monospace,monospace;
}
#operator header{display:flex;justify-content:space-between;align-items:center}
#operator h2{margin:0;font-size:1rem}
#events{margin:.5rem 0 0;padding-left:1.5rem}
#events li{white-space:pre-wrap;overflow-wrap:anywhere;margin-bottom:.2rem;color:#bbb}
#events .utteranceStarted{color:#fff}
#events .commentRejected{color:#f88}
#events .commentAnswered{color:#8f8}
@media (max-width:720px){
.room{display:flex;flex-direction:column;gap:0;padding:0;position:relative}
.top{flex:none;height:2.75rem;padding:0 .6rem}
.stage{flex:1;min-height:0;width:100%;height:auto;border-radius:0}
video{object-position:center top}
.side{
  position:absolute;left:0;right:0;bottom:0;gap:.5rem;padding:2rem .6rem calc(.6rem + env(safe-area-inset-bottom));
  background:linear-gradient(#0000,#000000b3 4rem);
}
.chat{flex:none;max-height:30vh;max-height:30dvh;width:85%;padding:0;background:none;gap:.35rem;font-size:.9rem}
.chat li{align-self:flex-start;max-width:100%;padding:.3rem .6rem;border-radius:12px;background:#0000008c}
.product{padding:.5rem;gap:.5rem;background:#1b1b21eb}
.product .thumb{width:3.25rem;height:3.25rem}
.product .point{display:none}
.price{font-size:1.15rem}
}
`;

// The page's script. Plain JavaScript kept free of backslashes and template literals (it is itself a template
// literal here). Window globals livehostTransport, livehostHls and livehostPeer are read by tests and benchmarks.
export const viewerScript = `"use strict";
const config = JSON.parse(document.getElementById("room-config").textContent);
const roomId = config.roomId;
const t = config.strings;
const base = "/rooms/" + encodeURIComponent(roomId);
const src = "/media/" + encodeURIComponent(roomId) + "/hls/index.m3u8";
const video = document.getElementById("video");

// ---- The stream. Which transport plays: "webrtc" (WHEP, the default), "hls" (when WebRTC does not come up, or
// ?transport=hls).
window.livehostTransport = "connecting";
function playHls() {
  window.livehostTransport = "hls";
  video.srcObject = null;
  if (window.Hls && Hls.isSupported()) {
    const hls = new Hls({ liveSyncDurationCount: 2 });
    window.livehostHls = hls;
    hls.loadSource(src);
    hls.attachMedia(video);
    hls.on(Hls.Events.ERROR, (_e, data) => { if (data.fatal) setTimeout(() => { hls.destroy(); playHls(); }, 1000); });
  } else {
    video.src = src;
  }
}
// WHEP: a receive-only offer with every ICE candidate, the answer from the room's host; a track must be playing
// within a few seconds, else HLS. A connection that fails later tries WebRTC again, then HLS.
async function playWebRtc() {
  const pc = new RTCPeerConnection();
  // For tools that time what the page plays (bench/latency.ts): the audio's RTP timestamps are the room's stream
  // clock at 48 kHz.
  window.livehostPeer = pc;
  let session;
  const end = () => {
    pc.close();
    if (session) fetch(session, { method: "DELETE", keepalive: true }).catch(() => {});
    session = undefined;
  };
  try {
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    const playing = new Promise((resolve) => {
      pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; e.track.onunmute = resolve; };
    });
    await pc.setLocalDescription(await pc.createOffer());
    await Promise.race([
      new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
      }),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ]);
    const res = await fetch(base + "/whep", {
      method: "POST", headers: { "content-type": "application/sdp" }, body: pc.localDescription.sdp,
    });
    if (res.status !== 201) throw new Error("WHEP " + res.status + ": " + (await res.text()));
    session = res.headers.get("location");
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    await Promise.race([playing, new Promise((_, reject) => setTimeout(() => reject(new Error("no track")), 5000))]);
    window.livehostTransport = "webrtc";
    addEventListener("pagehide", end);
    // The room's host stops sending when its output restarts (or it hands the room over): ICE says "disconnected"
    // within seconds, long before "failed".
    let lost;
    const reconnect = () => {
      if (pc.connectionState === "connected") return;
      pc.onconnectionstatechange = null;
      end();
      playWebRtc().catch(playHls);
    };
    pc.onconnectionstatechange = () => {
      clearTimeout(lost);
      if (pc.connectionState === "failed" || pc.connectionState === "closed") reconnect();
      else if (pc.connectionState === "disconnected") lost = setTimeout(reconnect, 3000);
    };
  } catch (err) {
    end();
    throw err;
  }
}
if (new URLSearchParams(location.search).get("transport") === "hls") playHls();
else playWebRtc().catch((err) => { console.warn("WebRTC did not come up, playing HLS", err); playHls(); });

// Browsers play a page's sound only after a tap: the stream starts muted.
const sound = document.getElementById("sound");
const showSound = () => { sound.textContent = video.muted ? t.soundOn : t.soundOff; };
sound.onclick = () => {
  video.muted = !video.muted;
  if (!video.muted) video.play().catch(() => {});
  showSound();
};
showSound();

// ---- Helpers. Every text from viewers, the model or the catalog goes in through textContent, never as markup.
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
function fill(template, values) {
  return Object.keys(values).reduce((s, k) => s.split("{" + k + "}").join(String(values[k])), template);
}
/** A map that forgets its oldest entries beyond a few hundred (a page may stay open for hours). */
function remember(map, key, value) {
  map.delete(key);
  map.set(key, value);
  if (map.size > 300) map.delete(map.keys().next().value);
}
/** A price as the catalog gives it, in its currency's minor units: 7900 CNY is 79.00, decimals kept. */
function money(m) {
  if (!m || !m.currency) return "";
  const minor = Number(m.amountMinor || 0);
  try {
    const format = new Intl.NumberFormat(config.locale, { style: "currency", currency: m.currency });
    return format.format(minor / Math.pow(10, format.resolvedOptions().maximumFractionDigits));
  } catch {
    return (minor / 100).toFixed(2) + " " + m.currency;
  }
}

// ---- The room: its title, state, host and catalog, from room.json (again every 30 s, for stock that changes).
let room;
const onScreen = { productId: "", couponId: "" };
async function loadRoom() {
  try {
    const res = await fetch(base + "/room.json", { cache: "no-store" });
    if (!res.ok) return;
    room = await res.json();
    if (!onScreen.productId && room.showProductId) onScreen.productId = room.showProductId;
    document.getElementById("host-name").textContent = room.hostName;
    showState(room.state);
    showProduct();
  } catch {
    // The next refresh tries again.
  }
}
loadRoom();
setInterval(loadRoom, 30000);

function showState(state) {
  const node = document.getElementById("state");
  const key = { ROOM_STATE_LIVE: "live", ROOM_STATE_PAUSED: "paused", ROOM_STATE_ENDED: "ended" }[state] || "waiting";
  node.textContent = t.states[key];
  node.className = "state " + key;
}

// The product the host presents: the last one a cue named (product card, price tag, coupon) or the show moved to,
// else the one the room's record names, else link 1.
function showProduct() {
  const products = (room && room.catalog.products) || [];
  const index = Math.max(0, products.findIndex((p) => p.id === onScreen.productId));
  const product = products[index];
  const panel = document.getElementById("product");
  if (!product) {
    panel.hidden = true;
    return;
  }
  const soldOut = !(product.stock > 0);
  panel.dataset.productId = product.id;
  panel.classList.toggle("sold-out", soldOut);
  const info = el("div", "info");
  const head = el("div");
  head.append(el("span", "link", fill(t.link, { n: index + 1 })), el("span", "title", product.title));
  const prices = el("div");
  prices.append(el("span", "price", money(product.price)));
  if (product.originalPrice) prices.append(el("s", "was", money(product.originalPrice)));
  const more = el("div");
  const coupon = product.coupons.find((c) => c.id === onScreen.couponId) || product.coupons[0];
  if (coupon) more.append(el("span", "coupon", coupon.title));
  let stock = soldOut ? t.soldOut : fill(t.stock, { n: product.stock });
  if (soldOut && product.restockDate) stock += " · " + fill(t.restock, { date: product.restockDate });
  more.append(el("span", "stock", stock));
  info.append(head, prices, more);
  if (product.sellingPoints.length > 0) info.append(el("div", "point", product.sellingPoints[0]));
  const parts = [];
  if (product.imageUri.startsWith("https://")) {
    const image = el("img", "thumb");
    image.alt = "";
    image.src = product.imageUri;
    parts.push(image);
  }
  panel.replaceChildren(...parts, info);
  panel.hidden = false;
}

// ---- The chat: this viewer's comments as they are sent, and every comment the room answers, each with its outcome
// and the host's answer beneath it.
const chat = document.getElementById("chat");
const items = new Map(); // comment id -> its chat item
const asked = new Map(); // comment id -> { viewerName, text }, sent by the gateway just before the room answers it
const early = new Map(); // comment id -> a refusal that came before the page learnt its comment's id
const byUtterance = new Map(); // an answer's first utterance id -> the chat items it answers
const byQuestion = new Map(); // an answer's question id (UtteranceStarted.comment_id) -> the chat items it answers

function addItem(who, text, own) {
  const follow = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 48;
  const item = el("li", own ? "comment own" : "comment");
  const question = el("div", "question");
  question.append(el("span", "who", who), el("span", "text", text));
  const answer = el("div", "answer");
  answer.hidden = true;
  answer.append(el("span", "who"), el("span", "text", ""));
  item.append(question, el("div", "outcome", ""), answer);
  chat.append(item);
  while (chat.children.length > 100) {
    items.delete(chat.firstElementChild.dataset.commentId);
    chat.firstElementChild.remove();
  }
  if (follow) chat.scrollTop = chat.scrollHeight;
  return item;
}
function bind(item, commentId) {
  item.dataset.commentId = commentId;
  remember(items, commentId, item);
}
function setOutcome(item, outcome, text) {
  item.dataset.outcome = outcome;
  item.classList.toggle("rejected", outcome === "rejected");
  item.querySelector(".outcome").textContent = text;
}
function refuse(item, reason) {
  const key = ["empty", "too_long", "control_characters"].includes(reason) ? "invalid" : reason;
  setOutcome(item, "rejected", t.reasons[key] || t.reasons.other);
}
function addAnswer(item, text) {
  const follow = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 48;
  const answer = item.querySelector(".answer");
  answer.hidden = false;
  answer.querySelector(".who").textContent = t.aiHost + (room && room.hostName ? " " + room.hostName : "");
  const said = answer.querySelector(".text");
  said.textContent = said.textContent ? said.textContent + t.join + text : text;
  if (follow) chat.scrollTop = chat.scrollHeight;
}

function onRoomEvent(kind, body) {
  if (kind === "stateChanged") {
    showState(body.to);
  } else if (kind === "cueFired" && body.productId) {
    onScreen.productId = body.productId;
    onScreen.couponId = body.couponId || "";
    // A product the page does not know yet: the catalog changed.
    if (room && !room.catalog.products.some((p) => p.id === body.productId)) loadRoom();
    else showProduct();
  } else if (kind === "utteranceStarted" && body.show && body.show.productId && body.show.productId !== onScreen.productId) {
    // The show moved on to another product.
    onScreen.productId = body.show.productId;
    onScreen.couponId = "";
    showProduct();
  } else if (kind === "commentAnswered") {
    let item = items.get(body.commentId);
    if (!item) {
      const comment = asked.get(body.commentId);
      asked.delete(body.commentId);
      item = addItem(comment ? comment.viewerName || t.viewer : t.viewer, comment ? comment.text : t.unknownQuestion);
      bind(item, body.commentId);
    }
    setOutcome(item, "answered", t.answered);
    const waiting = byUtterance.get(body.utteranceId) || [];
    waiting.push(item);
    remember(byUtterance, body.utteranceId, waiting);
  } else if (kind === "commentRejected") {
    const item = items.get(body.commentId);
    if (item) refuse(item, body.reason);
    else remember(early, body.commentId, body.reason);
  } else if (kind === "utteranceStarted" && body.source === "UTTERANCE_SOURCE_ANSWER") {
    // An answer's first sentence names the comments it answers (CommentAnswered, just before); the sentences after
    // it share its question id.
    const first = byUtterance.get(body.utteranceId);
    if (first) {
      byUtterance.delete(body.utteranceId);
      remember(byQuestion, body.commentId, first);
    }
    for (const item of byQuestion.get(body.commentId) || []) addAnswer(item, body.text);
  }
}

// ---- The room's events: the chat and the product follow them; operators see them raw behind "events".
const list = document.getElementById("events");
const events = new EventSource(base + "/events");
events.onopen = () => { window.livehostEvents = "open"; };
events.addEventListener("comment", (m) => {
  const comment = JSON.parse(m.data);
  remember(asked, comment.commentId, comment);
});
events.onmessage = (m) => {
  const e = JSON.parse(m.data);
  const [kind, body] = Object.entries(e).find(([k]) => !["roomId", "sequence", "time"].includes(k)) || ["", {}];
  const li = el("li", kind, kind === "utteranceStarted" ? body.text : kind + " " + JSON.stringify(body));
  list.prepend(li);
  while (list.children.length > 50) list.lastChild.remove();
  onRoomEvent(kind, body);
};
const operator = document.getElementById("operator");
const toggle = document.getElementById("events-toggle");
function showOperator(open) {
  operator.hidden = !open;
  toggle.setAttribute("aria-pressed", String(open));
}
toggle.onclick = () => showOperator(operator.hidden);
document.getElementById("events-close").onclick = () => showOperator(false);
if (location.hash === "#events") showOperator(true);

// ---- The comment box: the comment shows in the chat at once, then its outcome.
const form = document.getElementById("comment");
form.onsubmit = async (ev) => {
  ev.preventDefault();
  const input = form.elements.text;
  const text = input.value;
  if (!text.trim()) return;
  const item = addItem(t.you, text, true);
  chat.scrollTop = chat.scrollHeight;
  setOutcome(item, "pending", t.sending);
  let res;
  try {
    res = await fetch(base + "/comments", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text }),
    });
  } catch {
    setOutcome(item, "rejected", t.offline);
    return;
  }
  if (!res.ok) {
    setOutcome(item, "rejected", res.status === 429 ? t.reasons.flood : t.failed + (await res.text()));
    return;
  }
  input.value = "";
  const reply = await res.json();
  bind(item, reply.commentId);
  setOutcome(item, "pending", t.waiting);
  if (early.has(reply.commentId)) refuse(item, early.get(reply.commentId));
};
`;
