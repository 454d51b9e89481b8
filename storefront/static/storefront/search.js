// The search page works without this file; with it: a preview of the chosen photo, a size check before a
// long upload, "/" to jump to the search box, and buttons that say a search is running.
(function () {
  "use strict";

  var upload = document.querySelector("form[enctype='multipart/form-data']");
  if (upload) {
    var input = upload.querySelector("input[type=file]");
    var preview = document.createElement("img");  // made here: an <img> without a src is not valid HTML
    preview.className = "preview";
    preview.hidden = true;
    var maxBytes = Number(upload.getAttribute("data-max-mb") || "0") * 1024 * 1024;
    var note = document.createElement("p");
    note.className = "hint";
    note.setAttribute("role", "status");
    input.insertAdjacentElement("afterend", note);
    note.insertAdjacentElement("afterend", preview);
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      note.textContent = "";
      input.setCustomValidity("");
      if (!file) { preview.hidden = true; return; }
      if (maxBytes && file.size > maxBytes) {
        input.setCustomValidity("This photo is larger than " + upload.getAttribute("data-max-mb") + " MB.");
        note.textContent = input.validationMessage;
        preview.hidden = true;
        return;
      }
      // A data: URL, not a blob: one: the page's Content-Security-Policy allows img-src 'self' data:.
      var reader = new FileReader();
      reader.onload = function () {
        preview.src = String(reader.result);
        preview.alt = "The photo you chose";
        preview.hidden = false;
      };
      reader.readAsDataURL(file);
    });
  }

  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        // After the submit has started, so the button's own value still goes with it.
        window.setTimeout(function () { button.disabled = true; button.textContent = "Searching…"; }, 0);
      }
    });
  });

  window.addEventListener("pageshow", function () {  // back from the results: the buttons work again
    document.querySelectorAll("button[type=submit][disabled]").forEach(function (button) {
      button.disabled = false;
      button.textContent = button.closest("form[enctype]") ? "Search by photo" : "Search";
    });
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var box = document.getElementById("q");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    }
  });
})();
