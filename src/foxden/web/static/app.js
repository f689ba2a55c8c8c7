// foxden web site: live progress (polling the JSON API), frame logs, confirmations.
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

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    let minutes = Math.floor(Math.round(seconds) / 60);
    const secs = Math.round(seconds) % 60;
    const hours = Math.floor(minutes / 60);
    minutes %= 60;
    const pad = (n) => String(n).padStart(2, "0");
    return hours ? hours + " h " + pad(minutes) + " min" : minutes + " min " + pad(secs) + " s";
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
      el("td", {}, [task.project_name]),
      el("td", { class: "path" }, [task.scene_path]),
      el("td", {}, [task.cg_soft_name]),
      el("td", {}, [localTime(task.submit_time)]),
    ]);
    setProgress(box, task);
    return row;
  }

  // The task list: statuses and progress bars follow the farm; new tasks appear on page 1.
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
      }
      const total = document.querySelector("[data-total]");
      if (total) total.textContent = page.total + (page.total === 1 ? " task" : " tasks");
      return false;
    });
  }

  // One task: status, progress, buttons and every frame follow the farm.
  const taskBox = document.querySelector("[data-poll-task]");
  if (taskBox) {
    const taskId = taskBox.dataset.taskId;
    // statuses in which nothing moves until someone acts: the server's list (core/states.py)
    const settled = (taskBox.dataset.settled || "").split(" ").filter(Boolean);
    poll(async () => {
      const task = await api("GET", taskBox.dataset.pollTask);
      setBadge(taskBox.querySelector("h1 [data-status]"), task.status);
      setProgress(taskBox.querySelector("[data-progress]"), task);
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
      for (const frame of task.frames_detail || []) {
        const item = taskBox.querySelector('li[data-frame="' + frame.number + '"]');
        if (!item) continue;
        item.className = "frame st-" + frame.status;
        setBadge(item.querySelector("[data-status]"), frame.status);
        item.querySelector("[data-attempts]").textContent = String(frame.attempts);
        item.querySelector("[data-time]").textContent = duration(frame.render_time);
        const thumb = frame.outputs.length ? frame.outputs[0].thumb_hash : null;
        if (thumb && item.dataset.thumbHash !== thumb) {
          item.dataset.thumbHash = thumb;
          const img = el("img", {
            src: "/api/tasks/" + taskId + "/frames/" + frame.number + "/thumbnail?v=" + thumb,
            alt: "Frame " + frame.number, width: "160", height: "90",
          });
          item.querySelector("[data-thumb]").replaceChildren(img);
        }
      }
      return settled.includes(task.status);
    });
  }

  // Frame logs open in a panel on the task page (the link is a real page too).
  const panel = document.getElementById("log-panel");
  let lastLogLink = null;
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-log]");
    if (link && panel && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      event.preventDefault();
      lastLogLink = link;
      const heading = panel.querySelector("#log-h");
      const text = panel.querySelector("[data-log-text]");
      heading.textContent = "Log of frame " + link.dataset.frameNumber;
      text.textContent = "Loading…";
      panel.hidden = false;
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
