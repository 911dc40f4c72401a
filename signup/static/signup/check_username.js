// Advisory username check on the details form; the submit checks again on the server.
(function () {
  var form = document.getElementById("signup-details");
  if (!form) return;
  var input = form.querySelector("input[name=username]");
  var out = document.getElementById("username-availability");
  if (!input || !out) return;
  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    out.textContent = "";
    out.classList.remove("taken", "available");
    var name = input.value.trim();
    if (!name) return;
    timer = setTimeout(function () {
      // POST, so the continue token never sits in a URL (access logs keep those).
      var csrf = form.querySelector("input[name=csrfmiddlewaretoken]");
      fetch(form.dataset.checkUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          username: name, token: form.dataset.token, csrfmiddlewaretoken: csrf ? csrf.value : ""
        })
      })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (input.value.trim() !== name) return;
          out.classList.toggle("taken", !!data.error || !data.available);
          out.classList.toggle("available", !data.error && !!data.available);
          if (data.error) out.textContent = data.error;
          else out.textContent = data.available ? "That username is available." : "That username is already taken.";
        })
        .catch(function () {});
    }, 300);
  });
})();
