// The emulator's web page. Plain JavaScript, no build step: it reads /_emulator/ui/state and the
// /_emulator/feed event stream, and acts through the ordinary control API under /_emulator/.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const data = await resp.json().catch(() => null);
    if (!resp.ok) throw new Error((data && data.message) || `${method} ${path}: HTTP ${resp.status}`);
    return data;
  }

  // -- state -------------------------------------------------------------------------------------

  let world = null; // GET /_emulator/ui/state
  const conv = { scene: "group", target: "", user: "" };
  const transcripts = new Map(); // "scene:target" -> [item]
  const seenMessages = new Set(); // user message ids (AT_MESSAGE_CREATE and MESSAGE_CREATE share one)
  const dmGuildOf = new Map(); // recipient user id -> DM guild id
  let lastId = 0;
  const OPS = { 0: "Dispatch", 1: "Heartbeat", 2: "Identify", 6: "Resume", 7: "Reconnect", 9: "Invalid Session", 10: "Hello", 11: "Heartbeat ACK" };
  const USER_MESSAGES = new Set([
    "GROUP_AT_MESSAGE_CREATE", "GROUP_MESSAGE_CREATE", "C2C_MESSAGE_CREATE",
    "AT_MESSAGE_CREATE", "MESSAGE_CREATE", "DIRECT_MESSAGE_CREATE",
  ]);

  function showError(text) {
    $("chat-error").textContent = text || "";
  }

  async function refreshWorld() {
    world = await api("GET", "/_emulator/ui/state");
    for (const s of world.dm_sessions) dmGuildOf.set(s.recipient_id, s.guild_id);
    $("bot-name").textContent = `bot ${world.bot.username || world.bot.id}`;
    fillPickers();
    renderWorld();
  }

  let worldTimer = null;
  function refreshWorldSoon() {
    if (worldTimer) return;
    worldTimer = setTimeout(() => {
      worldTimer = null;
      refreshWorld().catch((e) => showError(e.message));
    }, 300);
  }

  // -- pickers -----------------------------------------------------------------------------------

  function options(select, items, keep) {
    const before = keep !== undefined ? keep : select.value;
    select.replaceChildren(...items.map(([value, label]) => {
      const o = el("option", null, label);
      o.value = value;
      return o;
    }));
    if (items.some(([v]) => v === before)) select.value = before;
    return select.value;
  }

  function guildOfChannel(channelId) {
    return world.guilds.find((g) => g.channels.some((c) => c.id === channelId));
  }

  function fillPickers() {
    if (!world) return;
    const scene = $("scene").value;
    conv.scene = scene;
    let targets = [];
    let users = [];
    if (scene === "group") {
      targets = world.groups.filter((g) => g.bot_member).map((g) => [g.openid, g.name ? `${g.openid} (${g.name})` : g.openid]);
    } else if (scene === "c2c") {
      targets = world.c2c_users.map((u) => [u.openid, u.nick && u.nick !== u.openid ? `${u.openid} (${u.nick})` : u.openid]);
    } else if (scene === "guild") {
      for (const g of world.guilds) for (const c of g.channels) targets.push([c.id, `#${c.name} · ${g.name}`]);
    } else {
      for (const g of world.guilds) for (const m of g.members) targets.push([`${g.id}|${m.id}`, `${m.username} · ${g.name}`]);
    }
    $("target-label").textContent = { group: "group", c2c: "user", guild: "channel", dm: "user" }[scene];
    conv.target = options($("target"), targets, conv.target);
    if (scene === "group") {
      const g = world.groups.find((x) => x.openid === conv.target);
      users = g ? g.members.map((m) => [m.openid, m.role === "member" ? m.openid : `${m.openid} (${m.role})`]) : [];
    } else if (scene === "guild") {
      const g = guildOfChannel(conv.target);
      users = g ? g.members.map((m) => [m.id, m.username]) : [];
    }
    const hasUsers = scene === "group" || scene === "guild";
    $("user-wrap").hidden = !hasUsers;
    $("new-user").hidden = !hasUsers;
    $("at-wrap").hidden = !hasUsers;
    conv.user = hasUsers ? options($("user"), users, conv.user) : "";
    renderTranscript();
  }

  function conversationKey() {
    if (conv.scene === "dm") {
      const user = conv.target.split("|")[1];
      const guild = dmGuildOf.get(user);
      return guild ? `dm:${guild}` : `dm-pending:${user}`;
    }
    return `${conv.scene}:${conv.target}`;
  }

  function freeName(prefix, taken) {
    for (let n = 1; ; n++) if (!taken.includes(`${prefix}${n}`)) return `${prefix}${n}`;
  }

  async function newTarget() {
    const scene = $("scene").value;
    if (scene === "group") {
      const id = freeName("g", world.groups.map((g) => g.openid));
      await api("POST", "/_emulator/world/groups", { group_openid: id });
      await api("POST", "/_emulator/world/group_members", { group_openid: id, member_openid: "alice" });
      conv.target = id;
    } else if (scene === "c2c") {
      const id = freeName("user", world.c2c_users.map((u) => u.openid));
      await api("POST", "/_emulator/world/c2c_users", { openid: id, nick: id });
      conv.target = id;
    } else {
      let guild = world.guilds[0];
      if (!guild) guild = await api("POST", "/_emulator/world/guilds", { name: "Demo guild" });
      if (scene === "guild") {
        const taken = world.guilds.flatMap((g) => g.channels.map((c) => c.id));
        const id = freeName("c", taken);
        await api("POST", "/_emulator/world/channels", { guild_id: guild.id, channel_id: id, name: id });
        conv.target = id;
      } else {
        const names = world.guilds.flatMap((g) => g.members.map((m) => m.username));
        const member = await api("POST", "/_emulator/world/members", { guild_id: guild.id, username: freeName("user", names) });
        conv.target = `${guild.id}|${member.user.id}`;
      }
    }
    await refreshWorld();
  }

  async function newUser() {
    if (conv.scene === "group") {
      const g = world.groups.find((x) => x.openid === conv.target);
      const id = freeName("user", g ? g.members.map((m) => m.openid) : []);
      await api("POST", "/_emulator/world/group_members", { group_openid: conv.target, member_openid: id });
      conv.user = id;
    } else if (conv.scene === "guild") {
      const g = guildOfChannel(conv.target);
      const member = await api("POST", "/_emulator/world/members", { guild_id: g.id, username: freeName("user", g.members.map((m) => m.username)) });
      conv.user = member.user.id;
    }
    await refreshWorld();
  }

  // -- sending -----------------------------------------------------------------------------------

  async function send(text, imageUrl) {
    const attachments = imageUrl ? [{ content_type: "image/png", filename: imageUrl.split("/").pop() || "image.png", url: imageUrl }] : undefined;
    const at = $("at").checked;
    if (conv.scene === "group") {
      const op = at ? "group_at_message" : "group_message";
      await api("POST", `/_emulator/act/${op}`, { group_openid: conv.target, member_openid: conv.user, content: text, attachments });
    } else if (conv.scene === "c2c") {
      await api("POST", "/_emulator/act/c2c_message", { openid: conv.target, content: text, attachments });
    } else if (conv.scene === "guild") {
      await api("POST", "/_emulator/act/channel_message", { channel_id: conv.target, author_id: conv.user, content: text, mention_bot: at, attachments });
    } else {
      const [guildId, userId] = conv.target.split("|");
      const user = (world.guilds.find((g) => g.id === guildId) || { members: [] }).members.find((m) => m.id === userId);
      const ev = await api("POST", "/_emulator/act/dm", { user_id: userId, username: user ? user.username : "user", source_guild_id: guildId, content: text });
      dmGuildOf.set(userId, ev.d.guild_id);
      renderTranscript();
    }
  }

  async function click(item, button) {
    const action = button.action || {};
    const data = action.data || "";
    if (action.type === 0) {
      window.open(data, "_blank", "noopener");
      return;
    }
    if (action.type === 2) {
      $("text").value = data;
      if (action.enter) await send(data, "");
      else $("text").focus();
      return;
    }
    if (item.scene === "dm") throw new Error("callback buttons do not exist in guild DMs");
    const userId = item.scene === "c2c" ? item.target : conv.user || undefined;
    await api("POST", "/_emulator/act/button_click", {
      scene: item.scene, target_id: item.target, button_id: String(button.id || "1"),
      button_data: data, user_id: userId, message_id: item.msgId || "",
    });
  }

  // -- rendering the chat ------------------------------------------------------------------------

  function unescape(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  const SAFE_URL = /^https?:\/\/[^\s"'<>]+$/;

  function inline(text) {
    return text
      .replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (m, alt, url) => SAFE_URL.test(url) ? `<img alt="${alt.replace(/#\d+px/g, "").trim()}" src="${url}">` : m)
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (m, label, url) => SAFE_URL.test(url) ? `<a href="${url}" target="_blank" rel="noopener">${label}</a>` : m)
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/__([^_]+)__/g, "<strong>$1</strong>")
      .replace(/~~([^~]+)~~/g, "<del>$1</del>")
      .replace(/(^|[^*])\*([^*]+)\*/g, "$1<em>$2</em>")
      .replace(/(^|[^_\w])_([^_]+)_/g, "$1<em>$2</em>");
  }

  function markdown(source) {
    const out = [];
    let list = false;
    for (const raw of escapeHtml(source).split(/\r?\n/)) {
      const line = raw.trimEnd();
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const item = /^\s*[-*+]\s+(.*)$/.exec(line);
      if (item) {
        if (!list) out.push("<ul>");
        list = true;
        out.push(`<li>${inline(item[1])}</li>`);
        continue;
      }
      if (list) out.push("</ul>");
      list = false;
      if (heading) out.push(`<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`);
      else if (line) out.push(`<p>${inline(line)}</p>`);
    }
    if (list) out.push("</ul>");
    const box = el("div", "md");
    box.innerHTML = out.join("");
    return box;
  }

  function image(url, alt) {
    const img = el("img");
    img.alt = alt || url;
    img.title = url;
    if (SAFE_URL.test(url)) img.src = url;
    return img;
  }

  function card(title, rows, imageUrl) {
    const box = el("div", "card");
    box.append(el("div", "title", title));
    if (imageUrl) box.append(image(imageUrl, "thumbnail"));
    for (const [k, v] of rows) box.append(el("div", "kv", k ? `${k}: ${v}` : v));
    return box;
  }

  function keyboard(item, kb) {
    const box = el("div", "keyboard");
    if (kb.id && !kb.content) {
      box.append(el("div", "kv muted", `keyboard template ${kb.id}`));
      return box;
    }
    const rows = (kb.content && kb.content.rows) || [];
    for (const row of rows) {
      const line = el("div", "row");
      for (const button of row.buttons || []) {
        const render = button.render_data || {};
        const visited = item.visited && item.visited.has(button.id) && render.visited_label;
        const label = visited ? render.visited_label : render.label || (button.action && button.action.data) || "button";
        const b = el("button", `style-${render.style ?? 0}`, label);
        b.type = "button";
        b.title = `${["link", "callback", "command"][(button.action || {}).type] || "button"}: ${(button.action || {}).data || ""}`;
        b.addEventListener("click", () => {
          showError("");
          click(item, button).then(() => {
            item.visited = item.visited || new Set();
            item.visited.add(button.id);
            // the transcript may have been drawn anew while the click was on its way (a world refresh): then this
            // button is gone from the page, and only drawing it again shows the visited label
            if (render.visited_label) {
              if (b.isConnected) b.textContent = render.visited_label;
              else renderTranscript();
            }
          }).catch((e) => showError(e.message));
        });
        line.append(b);
      }
      box.append(line);
    }
    return box;
  }

  function botBody(item) {
    const body = item.body || {};
    const box = el("div");
    if (typeof body.content === "string" && body.content && body.msg_type !== 2) box.append(el("div", "text", body.content));
    if (body.markdown) {
      if (body.markdown.content) box.append(markdown(body.markdown.content));
      else box.append(card(`markdown template ${body.markdown.custom_template_id || ""}`, (body.markdown.params || []).map((p) => [p.key, (p.values || []).join(", ")])));
    }
    if (body.ark) {
      // the link/text templates name their parts (#TITLE#, #DESC#, ...): show those as the client would
      const kv = new Map((body.ark.kv || []).map((p) => [p.key, p.value !== undefined && p.value !== "" ? p.value : JSON.stringify(p.obj || [])]));
      const title = kv.get("#TITLE#") || kv.get("#DESC#") || `ark template ${body.ark.template_id}`;
      const rows = [];
      for (const key of ["#DESC#", "#METADESC#", "#SUBTITLE#", "#PROMPT#", "#LINK#"]) {
        if (kv.has(key) && kv.get(key) !== title) rows.push(["", kv.get(key)]);
      }
      for (const [key, value] of kv) if (!/^#(TITLE|DESC|METADESC|SUBTITLE|PROMPT|LINK|IMG)#$/.test(key)) rows.push([key, value]);
      rows.push(["", `ark template ${body.ark.template_id}`]);
      box.append(card(title, rows, kv.get("#IMG#")));
    }
    if (body.embed) {
      const e = body.embed;
      box.append(card(e.title || "embed", [["", e.prompt || ""], ...(e.fields || []).map((f) => ["", f.name])], e.thumbnail && e.thumbnail.url));
    }
    if (body.image) box.append(image(body.image, "image"));
    if (body.media) {
      if (item.mediaUrl && item.mediaType === 1) box.append(image(item.mediaUrl, "image"));
      else box.append(card(["", "image", "video", "voice", "file"][item.mediaType] || "media", [["", item.mediaUrl || body.media.file_info]]));
    }
    if (body.keyboard) box.append(keyboard(item, body.keyboard));
    if (!box.childNodes.length) box.append(el("div", "muted", JSON.stringify(body)));
    return box;
  }

  function renderItem(item) {
    const node = el("div", `msg ${item.who}`);
    if (item.who === "note") {
      node.textContent = item.text;
      return node;
    }
    node.append(el("div", "who", item.who === "bot" ? "bot" : item.author));
    if (item.who === "bot") node.append(botBody(item));
    else {
      if (item.text) node.append(el("div", "text", item.text));
      for (const a of item.images || []) node.append(image(a, "attachment"));
    }
    return node;
  }

  function renderTranscript() {
    const box = $("transcript");
    const items = transcripts.get(conversationKey()) || [];
    box.replaceChildren(...items.map(renderItem));
    box.scrollTop = box.scrollHeight;
  }

  function addChat(key, item) {
    if (!transcripts.has(key)) transcripts.set(key, []);
    transcripts.get(key).push(item);
    if (key === conversationKey()) {
      const box = $("transcript");
      box.append(renderItem(item));
      box.scrollTop = box.scrollHeight;
    }
  }

  function authorOf(type, d) {
    const a = d.author || {};
    if (type.startsWith("GROUP")) return a.member_openid || a.id || "member";
    if (type.startsWith("C2C")) return a.user_openid || a.id || "user";
    return a.username || a.id || "user";
  }

  function onEvent(entry) {
    const d = entry.d || {};
    const key = `${entry.scene}:${entry.target_id}`;
    if (USER_MESSAGES.has(entry.type)) {
      if ((d.author && d.author.bot) || seenMessages.has(d.id)) return;
      seenMessages.add(d.id);
      const text = unescape(String(d.content || "")).replace(/<@!?\d+>/g, "@bot").trim();
      const images = (d.attachments || []).map((a) => a.url).filter(Boolean);
      if (entry.type === "DIRECT_MESSAGE_CREATE" && d.author) dmGuildOf.set(d.author.id, d.guild_id);
      addChat(key, { who: "user", author: authorOf(entry.type, d), text, images });
      if (entry.type === "DIRECT_MESSAGE_CREATE") renderTranscript();
    } else if (entry.type === "INTERACTION_CREATE") {
      const r = (d.data && d.data.resolved) || {};
      addChat(key, { who: "note", text: `${r.user_id || "a user"} clicked button ${r.button_id || ""} (data "${r.button_data || ""}")` });
    } else if (entry.scene && entry.target_id) {
      addChat(key, { who: "note", text: entry.type });
      refreshWorldSoon();
    } else {
      refreshWorldSoon();
    }
  }

  function onSent(entry) {
    addChat(`${entry.scene}:${entry.target_id}`, {
      who: "bot", body: entry.body, msgId: entry.msg_id, scene: entry.scene, target: entry.target_id,
      mediaUrl: entry.media_url, mediaType: entry.media_type,
    });
  }

  // -- the wire log ------------------------------------------------------------------------------

  const WIRE_ROWS = 2000;
  let wireCount = 0;

  function clock(at) {
    const t = new Date(at * 1000);
    return t.toTimeString().slice(0, 8) + "." + String(t.getMilliseconds()).padStart(3, "0");
  }

  function wireRow(entry) {
    let cls = "entry";
    let dir = "";
    let head = "";
    let detail = "";
    let group = "gw";
    if (entry.kind === "frame") {
      const botGets = entry.dir === "out";
      cls += botGets ? " out" : " in";
      dir = botGets ? "↓" : "↑";
      const name = OPS[entry.op] || "?";
      const parts = [`#${entry.conn}`, `op ${entry.op ?? "?"}`];
      if (entry.op !== 0) parts.push(name);
      if (entry.t) parts.push(entry.t);
      if (entry.s !== null && entry.s !== undefined) parts.push(`s=${entry.s}`);
      head = parts.join(" ");
      detail = entry.body + (entry.truncated ? " …" : "");
      if (entry.op === 1 || entry.op === 11) group = "hb";
    } else if (entry.kind === "connection") {
      cls += " conn";
      dir = "⇄";
      if (entry.event === "open") head = `#${entry.conn} connected (${entry.transport})`;
      else {
        let how = "closed";
        if (entry.dropped) how = "dropped by the emulator (no close frame)";
        else if (entry.code_sent) how = `closed by the emulator: ${entry.code_sent} ${entry.reason_sent || ""}`;
        else if (entry.client_code) how = `closed by the client: ${entry.client_code}`;
        head = `#${entry.conn} ${how}`;
      }
      detail = JSON.stringify(entry, null, 1);
    } else if (entry.kind === "webhook") {
      cls += " out";
      dir = "⇢";
      const outcome = entry.status === null ? entry.error : `${entry.status}${entry.acked ? "" : " (not acknowledged)"}`;
      head = `webhook ${entry.type} → ${outcome}${entry.attempt > 1 ? ` (attempt ${entry.attempt})` : ""}`;
      detail = JSON.stringify(entry, null, 1);
    } else {
      cls += " rest";
      dir = "⇅";
      group = "rest";
      const q = entry.query && Object.keys(entry.query).length ? "?" + new URLSearchParams(entry.query) : "";
      head = `${entry.method} ${entry.path}${q} → ${entry.status}`;
      detail = `request: ${entry.body || "(empty)"}\nresponse: ${entry.response || "(empty)"}${entry.truncated ? " …" : ""}`;
    }
    const row = el("div", cls);
    row.dataset.group = group;
    row.dataset.search = `${head} ${detail}`.toLowerCase();
    const line = el("div", "head");
    line.append(el("span", "muted", clock(entry.at) + " "), el("span", "dir", dir));
    const text = el("span", entry.kind === "rest" && entry.status >= 400 ? "status-bad" : "t", head);
    line.append(text);
    row.append(line, el("pre", null, detail));
    row.addEventListener("click", () => row.classList.toggle("open"));
    return row;
  }

  function visible(row) {
    const g = row.dataset.group;
    if (g === "rest" && !$("f-rest").checked) return false;
    if (g !== "rest" && !$("f-gw").checked) return false;
    if (g === "hb" && !$("f-hb").checked) return false;
    const q = $("f-text").value.trim().toLowerCase();
    return !q || q.split(/\s+/).every((w) => row.dataset.search.includes(w));
  }

  function applyFilters() {
    for (const row of $("wire").children) row.hidden = !visible(row);
  }

  function addWire(entries) {
    const box = $("wire");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const frag = document.createDocumentFragment();
    for (const entry of entries) {
      const row = wireRow(entry);
      row.hidden = !visible(row);
      frag.append(row);
      wireCount++;
    }
    box.append(frag);
    while (box.children.length > WIRE_ROWS) box.firstChild.remove();
    $("wire-count").textContent = `(${wireCount})`;
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  // -- sessions ----------------------------------------------------------------------------------

  async function refreshSessions() {
    const snap = await api("GET", "/_emulator/gateway/sessions");
    const rows = [];
    const shards = new Set();
    for (const c of snap.connections.slice().reverse()) {
      const live = c.closed_at === null;
      if (live && c.shard) shards.add(c.shard[0]);
      const tr = el("tr", live ? "live" : "closed");
      let state = "closed";
      if (live) state = c.kind ? (c.kind === "resume" ? "resumed" : "ready") : "connecting";
      let closed = "";
      if (c.dropped) closed = "dropped";
      else if (c.close_code_sent) closed = `sent ${c.close_code_sent}`;
      else if (c.client_close_code) closed = `client ${c.client_close_code}`;
      const beat = c.last_heartbeat_at === null || !live ? "-" : `${Math.max(0, snap.now - c.last_heartbeat_at).toFixed(1)} s ago`;
      const cells = [
        `#${c.number}`, c.shard ? `${c.shard[0]}/${c.shard[1]}` : "-", state,
        c.session_id ? c.session_id.slice(0, 8) : "-", c.heartbeats, beat, closed,
      ];
      cells.forEach((v, i) => tr.append(el("td", i === 2 && live ? "state-live" : "", v)));
      rows.push(tr);
    }
    $("conns").replaceChildren(...rows);
    const keep = $("fault-shard").value;
    options($("fault-shard"), [["", "all"], ...[...shards].sort((a, b) => a - b).map((s) => [String(s), String(s)])], keep);
  }

  let sessionsTimer = null;
  function refreshSessionsSoon() {
    if (sessionsTimer) return;
    sessionsTimer = setTimeout(() => {
      sessionsTimer = null;
      refreshSessions().catch(() => {});
    }, 200);
  }

  async function gatewayFault(button) {
    const body = {};
    const shard = $("fault-shard").value;
    if (shard !== "") body.shard = Number(shard);
    if (button.dataset.resumable) body.resumable = true;
    if (button.dataset.code) {
      body.code = Number(button.dataset.code);
      body.reason = "fault from the web page";
    }
    const r = await api("POST", `/_emulator/gateway/faults/${button.dataset.gw}`, body);
    $("fault-note").textContent = `${button.textContent}: ${r.affected} affected`;
    refreshSessionsSoon();
  }

  async function restFault(button) {
    const body = button.dataset.status ? { status: Number(button.dataset.status), count: 1 } : {};
    if (button.dataset.rest !== "expire_tokens") body.count = 1;
    await api("POST", `/_emulator/rest/faults/${button.dataset.rest}`, body);
    $("fault-note").textContent = `REST ${button.textContent}: armed`;
  }

  // -- world -------------------------------------------------------------------------------------

  function list(title, items) {
    const box = el("div");
    box.append(el("h3", null, title));
    const ul = el("ul");
    for (const node of items) {
      const li = el("li");
      li.append(...node);
      ul.append(li);
    }
    if (!items.length) ul.append(el("li", "muted", "none"));
    box.append(ul);
    return box;
  }

  function tags(names) {
    const span = el("span");
    for (const n of names) span.append(el("span", "tag", n));
    return span;
  }

  function renderWorld() {
    const w = world;
    const parts = [];
    parts.push(list("What the bot may see", [
      ...w.apps.map((a) => [el("b", null, `app ${a.app_id}`), el("span", "muted", " granted: "), a.all_intents ? el("span", "tag", "every intent") : tags(a.granted)]),
      ...w.sessions.map((s) => [
        el("b", null, `session ${s.session_id.slice(0, 8)}`),
        el("span", "muted", ` shard ${s.shard[0]}/${s.shard[1]}, seq ${s.seq}${s.connected ? "" : ", disconnected"}; intents `),
        tags(s.intent_names), el("div", "ids", `receives: ${s.events.join(", ")}`),
      ]),
    ]));
    parts.push(list("Groups", w.groups.map((g) => [
      el("b", null, g.openid), el("span", "muted", `${g.name ? " " + g.name : ""}${g.bot_member ? "" : " (bot removed)"}${g.accepts_active ? "" : " (rejects active messages)"}`),
      el("div", "ids", `members: ${g.members.map((m) => m.role === "member" ? m.openid : `${m.openid} (${m.role})`).join(", ") || "none"}`),
    ])));
    parts.push(list("Guilds", w.guilds.map((g) => [
      el("b", null, g.name), el("span", "ids", ` ${g.id}`),
      el("div", "ids", `channels: ${g.channels.map((c) => `#${c.name} (${c.id})`).join(", ") || "none"}`),
      el("div", "ids", `members: ${g.members.map((m) => `${m.username} (${m.id})`).join(", ") || "none"}`),
    ])));
    parts.push(list("C2C users", w.c2c_users.map((u) => [
      el("b", null, u.openid), el("span", "muted", `${u.friend ? "" : " (not a friend)"}${u.accepts_active ? "" : " (rejects active messages)"}`),
    ])));
    if (w.rest_faults.length) parts.push(list("Pending REST faults", w.rest_faults.map((f) => [el("span", null, `${f.status} × ${f.remaining} ${f.path_prefix || "(any path)"}`)])));
    $("world").replaceChildren(...parts);
  }

  // -- the feed ----------------------------------------------------------------------------------

  function onEntries(entries) {
    const wire = [];
    let gateway = false;
    for (const entry of entries) {
      if (entry.id <= lastId) continue;
      lastId = entry.id;
      if (entry.kind === "event") onEvent(entry);
      else if (entry.kind === "sent") onSent(entry);
      else {
        wire.push(entry);
        if (entry.kind === "connection" || (entry.kind === "frame" && (entry.op !== 0 || entry.t === "READY" || entry.t === "RESUMED"))) gateway = true;
      }
    }
    if (wire.length) addWire(wire);
    if (gateway) {
      refreshSessionsSoon();
      refreshWorldSoon();
    }
  }

  function connectFeed() {
    const source = new EventSource("/_emulator/feed?since=0");
    source.addEventListener("open", () => {
      $("live").textContent = "live";
      $("live").className = "live on";
    });
    source.addEventListener("error", () => {
      $("live").textContent = "reconnecting";
      $("live").className = "live off";
    });
    source.addEventListener("hello", (ev) => {
      const hello = JSON.parse(ev.data);
      if (hello.since < lastId) lastId = hello.since; // a restarted emulator: take what it has
    });
    let pending = [];
    source.addEventListener("message", (ev) => {
      pending.push(JSON.parse(ev.data));
      if (pending.length === 1) {
        requestAnimationFrame(() => {
          const batch = pending;
          pending = [];
          onEntries(batch);
        });
      }
    });
  }

  // -- wiring ------------------------------------------------------------------------------------

  function guarded(fn) {
    return (...args) => {
      showError("");
      Promise.resolve(fn(...args)).catch((e) => showError(e.message));
    };
  }

  $("scene").addEventListener("change", () => {
    conv.target = "";
    conv.user = "";
    fillPickers();
  });
  $("target").addEventListener("change", () => {
    conv.target = $("target").value;
    fillPickers();
  });
  $("user").addEventListener("change", () => {
    conv.user = $("user").value;
  });
  $("new-target").addEventListener("click", guarded(newTarget));
  $("new-user").addEventListener("click", guarded(newUser));
  $("composer").addEventListener("submit", guarded(async (ev) => {
    ev.preventDefault();
    const text = $("text").value;
    const imageUrl = $("image").value.trim();
    if (!text.trim() && !imageUrl) return;
    await send(text, imageUrl);
    $("text").value = "";
    $("image").value = "";
  }));
  for (const id of ["f-gw", "f-rest", "f-hb"]) $(id).addEventListener("change", applyFilters);
  $("f-text").addEventListener("input", applyFilters);
  $("wire-clear").addEventListener("click", () => {
    $("wire").replaceChildren();
    wireCount = 0;
    $("wire-count").textContent = "";
  });
  for (const b of document.querySelectorAll("button[data-gw]")) b.addEventListener("click", guarded(() => gatewayFault(b)));
  for (const b of document.querySelectorAll("button[data-rest]")) b.addEventListener("click", guarded(() => restFault(b)));
  $("clear-faults").addEventListener("click", guarded(async () => {
    await api("DELETE", "/_emulator/rest/faults");
    await api("POST", "/_emulator/gateway/faults/resume_acks", {});
    $("fault-note").textContent = "faults cleared";
    refreshWorldSoon();
  }));

  async function start() {
    await refreshWorld();
    if (!world.groups.length && !world.guilds.length && !world.c2c_users.length) {
      await api("POST", "/_emulator/ui/demo", {});
      await refreshWorld();
    }
    await refreshSessions();
    connectFeed();
    setInterval(() => refreshSessions().catch(() => {}), 2000);
    document.body.dataset.ready = "1";
  }
  start().catch((e) => showError(e.message));
})();
