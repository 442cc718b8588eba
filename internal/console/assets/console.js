// Stowage console: copy buttons, live job progress, the project switcher
// and uploads straight to the S3 listener. Everything works without it
// except uploads and live progress.
"use strict";
(function () {
  var csrf = document.body.dataset.csrf || "";

  function post(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(body)})
      .then(function (r) {
        if (!r.ok) { return r.text().then(function (t) { throw new Error(refusal(t) || ("HTTP " + r.status)); }); }
        return r.status === 204 ? null : r.json();
      });
  }
  function refusal(html) {
    var m = /class="refusal"[^>]*>([^<]*)</.exec(html);
    return m ? m[1] : "";
  }

  // Copy buttons copy the text of the element they name.
  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-copy]");
    if (!b) { return; }
    var text = document.getElementById(b.dataset.copy).textContent;
    var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, done);
    } else {
      var t = document.createElement("textarea");
      t.value = text; document.body.appendChild(t); t.select();
      document.execCommand("copy"); t.remove(); done();
    }
  });

  var sw = document.querySelector("[data-autosubmit]");
  if (sw) { sw.addEventListener("change", function () { sw.form.submit(); }); }

  // Jobs: poll until done, then show the thing's new state.
  document.querySelectorAll("[data-job]").forEach(function (el) {
    var state = el.querySelector(".job-state");
    (function poll() {
      fetch("/console/jobs/" + encodeURIComponent(el.dataset.job), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (j) {
          state.textContent = j.state + (j.error ? ": " + j.error : "");
          if (!j.done) { setTimeout(poll, 700); return; }
          if (el.hasAttribute("data-reload")) { location.replace(location.pathname); }
        })
        .catch(function () { setTimeout(poll, 2000); });
    })();
  });

  // A page following something that settles by itself (an order) looks
  // again each second until it has.
  if (document.querySelector("[data-refresh]")) { setTimeout(function () { location.reload(); }, 1000); }

  // Bucket names are checked as they are typed.
  var bn = document.querySelector("[data-bucket-name]");
  if (bn) {
    bn.addEventListener("input", function () {
      var v = bn.value, msg = "";
      if (v.length < 3 || v.length > 63) { msg = "3 to 63 characters."; }
      else if (!/^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(v)) { msg = "Only lower-case letters, digits and hyphens, starting and ending with a letter or digit."; }
      bn.setCustomValidity(msg);
      document.getElementById("b-name-help").textContent = msg || "Looks good.";
    });
  }
  // Object lock needs versioning, which the core turns on with it: the
  // form says so by ticking it too.
  var lock = document.getElementById("b-lock"), ver = document.getElementById("b-ver");
  if (lock && ver) { lock.addEventListener("change", function () { if (lock.checked) { ver.checked = true; } }); }

  // Uploads: each file goes straight to the S3 listener with URLs the
  // console presigns, in parts when large; one progress bar per file.
  var drop = document.querySelector(".drop");
  if (!drop) { return; }
  var list = drop.querySelector(".uploads");
  var base = drop.dataset.uploadUrl, prefix = drop.dataset.prefix || "";
  var running = 0, failed = 0;

  function put(url, blob, onProgress) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open("PUT", url);
      x.upload.onprogress = function (e) { onProgress(e.loaded); };
      x.onload = function () {
        if (x.status >= 200 && x.status < 300) { resolve(x.getResponseHeader("ETag")); }
        else { reject(new Error("S3 answered " + x.status)); }
      };
      x.onerror = function () { reject(new Error("network error")); };
      x.send(blob);
    });
  }

  function uploadOne(file, key) {
    var li = document.createElement("li");
    var label = document.createElement("span");
    label.textContent = key + " ";
    var bar = document.createElement("progress");
    bar.max = file.size || 1; bar.value = 0;
    bar.setAttribute("aria-label", "upload of " + key);
    var st = document.createElement("span");
    st.className = "upload-state"; st.textContent = " starting";
    li.append(label, bar, st);
    list.appendChild(li);
    running++;
    // A multipart upload's plan and the parts already sent are kept in
    // this browser while its URLs are valid, so choosing the same file
    // again after a failure or a reload sends only the missing parts.
    var saved = "stowage-upload:" + base + ":" + key + ":" + file.size + ":" + file.lastModified;
    var resume = null;
    try { resume = JSON.parse(localStorage.getItem(saved)); } catch (e) { resume = null; }
    if (resume && Date.now() - resume.at > 50 * 60 * 1000) { resume = null; }
    var planned = resume ? Promise.resolve(resume) : post(base + "/upload", {key: key, size: file.size});
    return planned.then(function (plan) {
      st.textContent = resume ? " resuming" : " uploading";
      if (plan.url) {
        return put(plan.url, file, function (n) { bar.value = n; });
      }
      plan.etags = plan.etags || [];
      plan.at = plan.at || Date.now();
      var keep = function () { try { localStorage.setItem(saved, JSON.stringify(plan)); } catch (e) { /* full: no resuming */ } };
      keep();
      var sent = plan.parts.map(function (_, i) { return plan.etags[i] ? Math.min(file.size - i * plan.part_size, plan.part_size) : 0; });
      bar.value = sent.reduce(function (a, b) { return a + b; }, 0);
      var chain = Promise.resolve();
      plan.parts.forEach(function (url, i) {
        if (plan.etags[i]) { return; }
        chain = chain.then(function () {
          var blob = file.slice(i * plan.part_size, Math.min(file.size, (i + 1) * plan.part_size));
          return put(url, blob, function (n) {
            sent[i] = n;
            bar.value = sent.reduce(function (a, b) { return a + b; }, 0);
          }).then(function (etag) { plan.etags[i] = etag; keep(); });
        });
      });
      return chain.then(function () {
        return post(base + "/complete", {key: key, upload_id: plan.upload_id, etags: plan.etags}).then(function () {
          localStorage.removeItem(saved);
        }, function (err) {
          localStorage.removeItem(saved);
          throw err;
        });
      });
    }).then(function () {
      bar.value = bar.max; st.textContent = " done"; li.classList.add("done");
    }, function (err) {
      failed++; st.textContent = " failed: " + err.message; li.classList.add("failed");
    }).then(function () {
      running--;
      if (running === 0) {
        drop.dataset.finished = String(list.querySelectorAll("li.done").length);
        if (failed === 0) { setTimeout(function () { location.reload(); }, 800); }
      }
    });
  }

  function uploadAll(files) {
    Array.prototype.forEach.call(files, function (f) { uploadOne(f, prefix + (f.webkitRelativePath || f.relPath || f.name)); });
  }
  drop.querySelectorAll("[data-upload]").forEach(function (inp) {
    // Emptied after each choice, so that choosing the same file again
    // (to resume it) is a change too.
    inp.addEventListener("change", function () { uploadAll(Array.prototype.slice.call(inp.files)); inp.value = ""; });
  });

  // Dropped folders are walked with the entries API.
  function walk(entry, path, out) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (f) { f.relPath = path + f.name; out.push(f); resolve(); }, resolve);
        return;
      }
      var r = entry.createReader(), all = [];
      (function more() {
        r.readEntries(function (es) {
          if (!es.length) {
            Promise.all(all.map(function (e) { return walk(e, path + entry.name + "/", out); })).then(resolve);
            return;
          }
          all = all.concat(Array.prototype.slice.call(es)); more();
        }, resolve);
      })();
    });
  }
  drop.addEventListener("dragover", function (e) { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", function () { drop.classList.remove("over"); });
  drop.addEventListener("drop", function (e) {
    e.preventDefault(); drop.classList.remove("over");
    var out = [], ps = [];
    Array.prototype.forEach.call(e.dataTransfer.items, function (it) {
      var en = it.webkitGetAsEntry && it.webkitGetAsEntry();
      if (en) { ps.push(walk(en, "", out)); }
    });
    Promise.all(ps).then(function () { uploadAll(out); });
  });
})();
