"""Questions over Debian's PDF manuals for the retrieval recall benchmark.

Each entry is (query as WARP's search action would phrase it, manual, answer needles): a hit is
a retrieved chunk of that manual containing any needle (case-insensitive), not counting table of
contents or index chunks (dot leaders). The needles were checked against the manuals' text.
"""

from __future__ import annotations

MANUALS = {
    "R-intro": "usr/share/R/doc/manual/R-intro.pdf",
    "R-data": "usr/share/R/doc/manual/R-data.pdf",
    "R-admin": "usr/share/R/doc/manual/R-admin.pdf",
    "R-FAQ": "usr/share/R/doc/manual/R-FAQ.pdf",
    "R-lang": "usr/share/R/doc/manual/R-lang.pdf",
    "gnuplot": "usr/share/doc/gnuplot/gnuplot.pdf",
    "xcolor": "usr/share/doc/texlive-doc/latex/xcolor/xcolor.pdf",
    "listings": "usr/share/doc/texlive-doc/latex/listings/listings.pdf",
    "microtype": "usr/share/doc/texlive-doc/latex/microtype/microtype.pdf",
}

QUESTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    ("getting help on a function in R", "R-intro", ("help(solve)", "?solve")),
    ("make data frame columns available as variables", "R-intro", ("attach(",)),
    ("arithmetic on vectors of different lengths", "R-intro", ("recycl",)),
    ("fit a linear regression model", "R-intro", ("lm(y ~",)),
    ("read a comma separated values file", "R-data", ("read.csv",)),
    ("import data from spreadsheets", "R-data", ("Excel",)),
    ("connect R to a relational database", "R-data", ("DBI",)),
    ("build R from source on Unix", "R-admin", ("./configure",)),
    ("faster linear algebra with an optimized BLAS", "R-admin", ("OpenBLAS",)),
    ("default location for user-installed packages", "R-admin", ("R_LIBS_USER",)),
    ("why are these floating point numbers not equal", "R-FAQ", ("all.equal",)),
    ("what is CRAN", "R-FAQ", ("Comprehensive R Archive Network",)),
    ("editor support for R", "R-FAQ", ("Emacs",)),
    ("lazy evaluation of function arguments", "R-lang", ("promise",)),
    ("how free variables are resolved in functions", "R-lang", ("lexical scop",)),
    ("save a plot as a PNG image", "gnuplot", ("set terminal png", "set output")),
    ("plot two columns from a data file", "gnuplot", ("using 1:2",)),
    ("logarithmic axes", "gnuplot", ("set logscale",)),
    ("least squares fit of a function to data", "gnuplot", ("fit f(x)",)),
    ("define a new named colour", "xcolor", ("\\definecolor",)),
    ("line numbers next to a code listing", "listings", ("numbers=left",)),
    ("typeset source code read from a file", "listings", ("\\lstinputlisting",)),
    ("letting characters stick into the margin", "microtype", ("protrusion",)),
]

# Written after the fusion weights were tuned on QUESTIONS, to check them on unseen questions.
HELD_OUT: list[tuple[str, str, tuple[str, ...]]] = [
    ("generate a regular sequence of numbers", "R-intro", ("seq(",)),
    ("test which values are missing", "R-intro", ("is.na(",)),
    ("example of writing a new function", "R-intro", ("twosam",)),
    ("export a data frame to a text file", "R-data", ("write.table",)),
    ("read data in fixed width columns", "R-data", ("read.fwf",)),
    ("tools needed to build packages on Windows", "R-admin", ("Rtools",)),
    ("how to cite R in publications", "R-FAQ", ("citation()",)),
    ("choose one of several alternatives by name", "R-lang", ("switch(",)),
    ("method dispatch for generic functions", "R-lang", ("UseMethod",)),
    ("label the x axis", "gnuplot", ("set xlabel",)),
    ("bar chart style plot", "gnuplot", ("with boxes",)),
    ("several plots on one page", "gnuplot", ("multiplot",)),
    ("colour models for printing", "xcolor", ("cmyk",)),
    ("select the programming language of a listing", "listings", ("language=",)),
    ("adjust letter spacing", "microtype", ("\\SetTracking", "tracking")),
]
