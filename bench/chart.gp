# bench/chart.gp: the chart of a `make bench` run (bench/run.sh), drawn from
# the data files bench/report.py leaves in the run's work directory.
#
#   gnuplot -e "work='DIR'; out='FILE.png'" bench/chart.gp
#
# DIR/batches.dat     "batch.max_events events_per_s" lines
# DIR/ceiling.value   the ceiling's events/s (0: not measured)
# DIR/latency-cdf.txt "ms fraction" lines (bench/latency --cdf)
# DIR/latency.title   the latency panel's title
# DIR/title.txt       the run: date, scale, machine

set terminal pngcairo size 1400,560 font "sans,11" noenhanced
set output out
ceiling = real(system("cat '" . work . "/ceiling.value'"))
set multiplot layout 1,2 title system("cat '" . work . "/title.txt'")

set title "Throughput by batch.max_events (one loyaltyd draining a backlog)"
set logscale x 10
set xrange [0.5:20000]
set xtics ("1" 1, "10" 10, "100" 100, "1,000" 1000, "5,000" 5000)
set xlabel "batch.max_events (log)"
set ylabel "events/s, first to last commit (log)"
set logscale y 10
set format y "%.0f"
stats work . "/batches.dat" using 2 nooutput
top = STATS_max > ceiling ? STATS_max : ceiling
set yrange [(STATS_min > 0 ? STATS_min / 2 : 1):(top > 0 ? top * 4 : 10)]
set grid
set key top left
if (ceiling > 0) {
	plot work . "/batches.dat" using 1:2 with linespoints lw 2 pt 7 title "loyaltyd", \
	     "" using 1:2:(sprintf("%.0f", $2)) with labels offset 0,1 notitle, \
	     ceiling with lines dt 2 lw 2 title sprintf("ceiling: PostgreSQL alone, COPY (%.0f events/s)", ceiling)
} else {
	plot work . "/batches.dat" using 1:2 with linespoints lw 2 pt 7 title "loyaltyd", \
	     "" using 1:2:(sprintf("%.0f", $2)) with labels offset 0,1 notitle
}

unset xtics
set xtics
unset logscale y
set format y "%g"
set title system("cat '" . work . "/latency.title'")
set xrange [*:*]
set yrange [0:1]
set format x "%.0f"
set xlabel "milliseconds from produced to loyalty.points.changed published (log)"
set ylabel "fraction of events at or below"
set key bottom right
plot work . "/latency-cdf.txt" using 1:2 with steps lw 2 title "cumulative distribution"
unset multiplot
