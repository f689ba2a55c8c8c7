// foxden web site: live progress (polling the site's live JSON), frame viewer and flipbook,
// frame logs in a side panel, confirmations.
// Works without this script too: every action is a real form or link.
"use strict";

(function () {
  const POLL_MS = 2000;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = csrfMeta ? csrfMeta.content : "";

  // Calls the JSON API with the session cookie; state-changing calls carry the CSRF header.
  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const reply = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!reply.ok) throw new Error(method + " " + url + ": HTTP " + reply.status);
    const type = reply.headers.get("content-type") || "";
    return type.includes("json") ? reply.json() : reply.text();
  }
  window.foxden = { api };

  const IDLE_POLL_MS = 10000;

  // Runs fn every POLL_MS while the page is visible; fn returning true means "nothing is
  // moving", and the page then checks less often (a restart elsewhere still shows up).
  function poll(fn) {
    async function tick() {
      let idle = false;
      if (!document.hidden) {
        try { idle = await fn(); } catch (err) { console.warn("foxden: update failed", err); }
      }
      window.setTimeout(tick, idle ? IDLE_POLL_MS : POLL_MS);
    }
    window.setTimeout(tick, POLL_MS);
  }

  function localTime(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleString() : "";
  }

  function countsText(task) {
    const c = task.counts;
    let text = c.done + "/" + task.frame_count + " done";
    if (c.failed) text += ", " + c.failed + " failed";
    if (c.running) text += ", " + c.running + " running";
    return text;
  }

  function setBadge(badge, status) {
    if (!badge || badge.textContent === status) return;
    badge.textContent = status;
    badge.className = "badge st-" + status;
  }

  function setProgress(box, task) {
    if (!box) return;
    const bar = box.querySelector("progress");
    bar.value = task.progress;
    bar.textContent = Math.round(task.progress * 100) + "%";
    box.querySelector("[data-counts]").textContent = countsText(task);
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children || []) node.append(child);
    return node;
  }

  function taskRow(task) {
    const progress = el("progress", { max: "1", "aria-label": "Progress of task " + task.id });
    const box = el("div", { class: "progress", "data-progress": "" }, [
      progress, el("span", { class: "counts", "data-counts": "" }),
    ]);
    const row = el("tr", { "data-task-id": String(task.id) }, [
      el("th", { scope: "row" }, [el("a", { href: "/tasks/" + task.id }, ["#" + task.id])]),
      el("td", {}, [el("span", { class: "badge st-" + task.status, "data-status": "" }, [task.status])]),
      el("td", {}, [box]),
      el("td", { "data-eta": "" }, [task.eta]),
      el("td", { "data-core-hours": "" }, [task.core_hours_text]),
      el("td", {}, [task.project_name]),
      el("td", { class: "path" }, [task.scene_path]),
      el("td", {}, [task.cg_soft_name]),
      el("td", {}, [localTime(task.submit_time)]),
    ]);
    setProgress(box, task);
    return row;
  }

  // The task list: statuses, progress bars and ETAs follow the farm; new tasks appear on page 1.
  const taskTable = document.querySelector("[data-poll-tasks]");
  if (taskTable) {
    poll(async () => {
      const page = await api("GET", taskTable.dataset.pollTasks);
      for (const task of page.items.slice().reverse()) {
        let row = taskTable.querySelector('tr[data-task-id="' + task.id + '"]');
        if (!row) {
          if (taskTable.dataset.firstPage !== "yes") continue;
          row = taskRow(task);
          taskTable.prepend(row);
          const empty = document.querySelector("[data-empty]");
          if (empty) empty.remove();
        }
        setBadge(row.querySelector("[data-status]"), task.status);
        setProgress(row.querySelector("[data-progress]"), task);
        const eta = row.querySelector("[data-eta]");
        if (eta) eta.textContent = task.eta;
        const core = row.querySelector("[data-core-hours]");
        if (core) core.textContent = task.core_hours_text;
      }
      const total = document.querySelector("[data-total]");
      if (total) total.textContent = page.total + (page.total === 1 ? " task" : " tasks");
      return false;
    });
  }

  // One frame card follows its frame (the server writes every text: time, reason, worker).
  function updateFrame(item, frame, taskId) {
    item.className = "frame st-" + frame.status + (item.classList.contains("showing-log") ? " showing-log" : "");
    setBadge(item.querySelector("[data-status]"), frame.status);
    item.querySelector("[data-attempts]").textContent = String(frame.attempts);
    item.querySelector("[data-time]").textContent = frame.time;
    item.querySelector("[data-worker-name]").textContent = frame.worker || "—";
    const run = item.querySelector("[data-run]");
    run.hidden = frame.status !== "running";
    const bar = run.querySelector("progress");
    bar.value = frame.progress;
    bar.textContent = frame.progress + "%";
    run.querySelector("[data-percent]").textContent = frame.progress + "%";
    const reason = item.querySelector("[data-reason]");
    reason.hidden = !frame.reason;
    const advice = frame.advice ? [" ", el("span", { class: "advice" }, [frame.advice])] : [];
    reason.replaceChildren(frame.reason, ...advice);
    const output = frame.output ? "/tasks/" + taskId + "/outputs/" + frame.output.split("/").map(encodeURIComponent).join("/") : "";
    item.dataset.output = output;
    item.dataset.viewable = frame.viewable ? "yes" : "no";
    if (frame.thumb && item.dataset.thumbHash !== frame.thumb) {
      item.dataset.thumbHash = frame.thumb;
      const img = el("img", {
        src: "/api/tasks/" + taskId + "/frames/" + frame.number + "/thumbnail?v=" + frame.thumb,
        alt: "Frame " + frame.number, width: "160", height: "90",
      });
      item.querySelector("[data-thumb]").replaceChildren(
        el("a", {
          href: output || "#", "data-view": String(frame.number),
          "aria-label": "View frame " + frame.number + " full size",
        }, [img]));
    } else if (!frame.thumb && item.dataset.thumbHash) {
      item.dataset.thumbHash = "";
      item.querySelector("[data-thumb]").replaceChildren(
        el("span", { "aria-hidden": "true" }, [String(frame.number)]));
    }
  }

  // The outputs list follows the farm too.
  function updateOutputs(outputs) {
    const list = document.querySelector("[data-outputs]");
    if (!list) return;
    const shown = [...list.querySelectorAll("a")].map((a) => a.textContent).join("\n");
    if (shown === outputs.map((o) => o.path).join("\n")) return;
    list.replaceChildren(...outputs.map((o) => el("li", {}, [
      el("a", { href: o.url }, [o.path]), " ",
      el("span", { class: "muted" }, [o.size + (o.frame === null ? "" : ", frame " + o.frame)]),
    ])));
    list.hidden = !outputs.length;
    const none = document.querySelector("[data-no-outputs]");
    if (none) none.hidden = outputs.length > 0;
    updateMovies(outputs);
  }

  // A movie that appears among the outputs gets a player.
  function updateMovies(outputs) {
    const box = document.querySelector("[data-movies]");
    if (!box) return;
    const shown = new Set([...box.querySelectorAll("[data-movie]")].map((f) => f.dataset.movie));
    for (const o of outputs) {
      if (!/\.(mp4|mov)$/i.test(o.path) || shown.has(o.path)) continue;
      const name = o.path.split("/").pop();
      box.append(el("figure", { class: "movie", "data-movie": o.path }, [
        el("video", { controls: "", preload: "metadata", src: o.url }, []),
        el("figcaption", {}, [el("a", { href: o.url, download: "" }, [name]), " ",
          el("span", { class: "muted" }, [o.size])]),
      ]));
      box.hidden = false;
    }
  }

  // One task: status, progress, summary, ETA, buttons, every frame and the outputs follow the farm.
  const taskBox = document.querySelector("[data-poll-task]");
  if (taskBox) {
    const taskId = taskBox.dataset.taskId;
    // statuses in which nothing moves until someone acts: the server's list (core/states.py)
    const settled = (taskBox.dataset.settled || "").split(" ").filter(Boolean);
    poll(async () => {
      const live = await api("GET", taskBox.dataset.pollTask);
      const task = live.task;
      setBadge(taskBox.querySelector("h1 [data-status]"), task.status);
      setProgress(taskBox.querySelector("[data-progress]"), task);
      const summary = taskBox.querySelector("[data-summary]");
      summary.textContent = live.summary;
      summary.hidden = !live.summary;
      taskBox.querySelector("[data-eta]").textContent = live.eta;
      const core = taskBox.querySelector("[data-core-hours]");
      if (core) core.textContent = live.core_hours;
      const started = taskBox.querySelector("[data-started]");
      if (started && task.start_time) started.textContent = localTime(task.start_time);
      const completed = taskBox.querySelector("[data-completed]");
      if (completed) completed.textContent = task.completed_time ? localTime(task.completed_time) : "not yet";
      for (const button of document.querySelectorAll("button[data-allowed]")) {
        button.disabled = !button.dataset.allowed.split(" ").includes(task.status);
      }
      for (const button of document.querySelectorAll("button[data-needs-failed]")) {
        button.disabled = !task.counts.failed;
      }
      for (const frame of live.frames) {
        const item = taskBox.querySelector('li[data-frame="' + frame.number + '"]');
        if (item) updateFrame(item, frame, taskId);
      }
      updateOutputs(live.outputs);
      showFlipbookButton();
      return settled.includes(task.status);
    });
  }

  // The frame viewer: a frame full size, previous/next (buttons and arrow keys), and a
  // flipbook that plays the thumbnails at the scene's frame rate.
  const viewer = document.getElementById("viewer");
  const viewed = { number: null, timer: null, opener: null, preloaded: [] };

  function framesWithPictures() {
    return [...document.querySelectorAll("li[data-frame]")].filter((li) => li.dataset.thumbHash);
  }

  function showFlipbookButton() {
    const button = document.querySelector("[data-flipbook]");
    if (button) button.hidden = framesWithPictures().length < 2;
  }
  showFlipbookButton();

  function showFrame(item, playing) {
    const number = item.dataset.frame;
    const taskId = taskBox.dataset.taskId;
    const img = viewer.querySelector("[data-viewer-img]");
    const thumb = "/api/tasks/" + taskId + "/frames/" + number + "/thumbnail?v=" + item.dataset.thumbHash;
    const full = item.dataset.viewable === "yes" && item.dataset.output && !playing;
    img.src = full ? item.dataset.output : thumb;
    img.alt = "Frame " + number + (full ? "" : " (thumbnail)");
    viewed.number = number;
    viewer.querySelector("#viewer-h").textContent = "Frame " + number;
    const all = framesWithPictures();
    const at = all.indexOf(item);
    viewer.querySelector("[data-viewer-caption]").textContent =
      (at + 1) + " of " + all.length + " frames with pictures" + (full ? "" : " · thumbnail");
  }

  function step(delta, playing) {
    const all = framesWithPictures();
    if (!all.length) return;
    let at = all.findIndex((li) => li.dataset.frame === viewed.number);
    at = at < 0 ? 0 : (at + delta + all.length) % all.length;
    showFrame(all[at], playing);
  }

  function stopPlaying() {
    if (viewed.timer !== null) window.clearInterval(viewed.timer);
    viewed.timer = null;
    const play = viewer.querySelector("[data-viewer-play]");
    play.textContent = "Play";
    play.setAttribute("aria-pressed", "false");
  }

  // The flipbook's pictures, loaded once: the browser then swaps them without asking again.
  function preload() {
    const taskId = taskBox.dataset.taskId;
    viewed.preloaded = framesWithPictures().map((li) => {
      const img = new Image();
      img.src = "/api/tasks/" + taskId + "/frames/" + li.dataset.frame + "/thumbnail?v=" + li.dataset.thumbHash;
      return img;
    });
  }

  function play() {
    stopPlaying();
    preload();
    const input = viewer.querySelector("[data-viewer-fps]");
    const fps = Math.min(120, Math.max(1, Number(input.value) || Number(taskBox.dataset.fps) || 24));
    const play = viewer.querySelector("[data-viewer-play]");
    play.textContent = "Pause";
    play.setAttribute("aria-pressed", "true");
    viewed.timer = window.setInterval(() => step(1, true), 1000 / fps);
  }

  function openViewer(item, opener, playing) {
    viewed.opener = opener;
    if (!viewer.open) viewer.showModal();
    showFrame(item, playing);
    if (playing) play();
  }

  if (viewer && taskBox) {
    viewer.addEventListener("close", () => {
      stopPlaying();
      if (viewed.opener) viewed.opener.focus();
    });
    viewer.addEventListener("keydown", (event) => {
      if (event.target.matches("input")) return;
      if (event.key === "ArrowRight") { stopPlaying(); step(1, false); event.preventDefault(); }
      if (event.key === "ArrowLeft") { stopPlaying(); step(-1, false); event.preventDefault(); }
    });
    viewer.addEventListener("click", (event) => {
      if (event.target.closest("[data-viewer-next]")) { stopPlaying(); step(1, false); }
      else if (event.target.closest("[data-viewer-prev]")) { stopPlaying(); step(-1, false); }
      else if (event.target.closest("[data-viewer-close]")) viewer.close();
      else if (event.target.closest("[data-viewer-play]")) {
        if (viewed.timer === null) play(); else { stopPlaying(); step(0, false); }
      }
    });
    viewer.querySelector("[data-viewer-fps]").addEventListener("change", () => {
      if (viewed.timer !== null) play();
    });
  }

  // Frame logs open in a panel beside the frames (the link is a real page too).
  const panel = document.getElementById("log-panel");
  let lastLogLink = null;
  document.addEventListener("click", async (event) => {
    const view = event.target.closest("a[data-view]");
    if (view && viewer && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      openViewer(view.closest("li[data-frame]"), view, false);
      return;
    }
    const flipbook = event.target.closest("[data-flipbook]");
    if (flipbook && viewer) {
      const all = framesWithPictures();
      if (all.length) openViewer(all[0], flipbook, true);
      return;
    }
    const link = event.target.closest("a[data-log]");
    if (link && panel && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      lastLogLink = link;
      const heading = panel.querySelector("#log-h");
      const text = panel.querySelector("[data-log-text]");
      heading.textContent = "Log of frame " + link.dataset.frameNumber;
      text.textContent = "Loading…";
      panel.hidden = false;
      panel.closest("[data-frames-area]").classList.add("with-log");
      for (const li of document.querySelectorAll("li.frame.showing-log")) li.classList.remove("showing-log");
      link.closest("li.frame").classList.add("showing-log");
      heading.focus();
      try {
        text.textContent = (await api("GET", link.dataset.log)) || "(no log yet)";
      } catch (err) {
        text.textContent = "The log could not be loaded: " + err.message;
      }
      return;
    }
    if (event.target.closest("[data-close-log]") && panel) {
      panel.hidden = true;
      panel.closest("[data-frames-area]").classList.remove("with-log");
      for (const li of document.querySelectorAll("li.frame.showing-log")) li.classList.remove("showing-log");
      if (lastLogLink) lastLogLink.focus();
    }
  });

  // Destructive forms ask first.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // Times in the reader's own time zone.
  for (const node of document.querySelectorAll("time[datetime]")) {
    const when = new Date(node.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime()) && !node.title) {
      node.title = node.textContent;
      node.textContent = when.toLocaleString();
    }
  }
})();
