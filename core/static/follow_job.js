// Follow a background job on its page: every element with data-follow-job polls
// GET /api/v1/jobs/<data-job-id> (the session cookie signs in), moves its progress bar and status
// text (translated through data-status-labels), and reloads the page once the job has finished,
// so the server renders the result.
(function () {
  document.querySelectorAll("[data-follow-job]").forEach((card) => {
    const labels = JSON.parse(card.dataset.statusLabels || "{}");
    const bar = card.querySelector(".progress-bar");
    function follow() {
      fetch("/api/v1/jobs/" + card.dataset.jobId, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
        .then((job) => {
          const pct = Math.round((job.progress || 0) * 100);
          bar.style.width = pct + "%";
          bar.textContent = pct + " %";
          card.querySelector("[data-col=status]").textContent = labels[job.status] || job.status;
          card.querySelector("[data-col=message]").textContent = job.error || job.message || "";
          if (job.status === "queued" || job.status === "running") setTimeout(follow, 700);
          else window.location.reload();
        })
        .catch(() => setTimeout(follow, 2000));
    }
    follow();
  });
})();
