// mailroom's dashboard: the only script, served from our own origin (the pages' CSP
// allows nothing inline). Everything works without it; it adds live send progress, a
// confirmation before cancelling, and an upload progress bar for the CSV import.
'use strict';

function liveProgress() {
  const live = document.getElementById('live');
  if (!live) return;
  const url = live.dataset.progressUrl;
  const initial = live.dataset.status;
  const set = (id, value) => {
    const el = document.getElementById(id);
    if (el && el.textContent !== String(value)) el.textContent = String(value);
  };
  let stopped = false;
  async function poll() {
    if (stopped) return;
    try {
      const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
      if (response.ok) {
        const p = await response.json();
        // Another tab, the CLI or the worker itself changed the send: reload, so the
        // buttons and the charts match its new state.
        if (p.status !== initial) { stopped = true; window.location.reload(); return; }
        set('sent', p.sent);
        set('remaining', p.remaining);
        set('retry', p.retry);
        set('failed', p.failed);
        set('suppressed', p.suppressed);
        set('per-minute', p.per_minute);
        set('eta', p.eta);
        const bar = document.getElementById('progress-bar');
        if (bar) { bar.max = p.total; bar.value = p.done; bar.textContent = p.percent + '%'; }
        if (p.status === 'done' || p.status === 'cancelled') return;
      }
    } catch (e) {
      // A dropped request: try again at the next tick.
    }
    window.setTimeout(poll, 1000);
  }
  if (initial === 'running' || initial === 'paused') window.setTimeout(poll, 1000);
}

function confirmations() {
  for (const form of document.querySelectorAll('form.confirm')) {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

function uploadProgress() {
  const form = document.getElementById('import-form');
  if (!form || !window.XMLHttpRequest) return;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const bar = document.getElementById('upload-progress');
    const status = document.getElementById('upload-status');
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) {
        bar.value = Math.round((e.loaded / e.total) * 100);
        bar.textContent = bar.value + '%';
        status.textContent = bar.value < 100 ? 'Uploading: ' + bar.value + '%' : 'Uploaded; importing…';
      }
    });
    xhr.addEventListener('load', () => {
      // The answer is the report page: show it as if the form had been posted.
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener('error', () => { status.textContent = 'The upload failed; try again.'; });
    xhr.send(new FormData(form));
  });
}

document.addEventListener('DOMContentLoaded', () => {
  liveProgress();
  confirmations();
  uploadProgress();
});
